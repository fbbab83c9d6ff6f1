"""The Hugging Face–compatible papers API, from the user's side: the real ``huggingface_hub``
client (``HfApi(endpoint=...)``) and its ``hf papers`` command line against a served instance,
and the raw HTTP rules the client depends on."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store
from papertrend.web.app import create_app

from conftest import settings_for
from web_helpers import served

DAYS = ("27", "28", "29", "30", "31")
HOSTILE = 'A title\nwith # a heading <script>alert(1)</script> and \x0b a control character'
TOKEN = "hf_ThisIsSomeonesOwnHuggingFaceToken0123"


@pytest.fixture(scope="module")
def instance(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """One served instance with five real Hugging Face days, an old-style arXiv id and a
    paper with a hostile title, on each store; the tests here only read it."""
    shared = Path(__file__).resolve().parent / "fixtures" / "data"
    root = tmp_path_factory.mktemp("api")
    settings = settings_for(module_database_url, root, base_url="http://papers.example")
    store = open_store(settings)
    hostile = root / "2026-07-30.jsonl"
    hostile.write_text(json.dumps({"id": "2607.00001", "title": HOSTILE, "authors": ["Mallory\nEve"],
                                   "summary": "First paragraph.\n\nSecond paragraph.", "categories": ["cs.CR"]}) + "\n")
    astro = shared / "arxiv-api" / "arxivpy__id_astro-ph_0601001_s0_m100_3150dca9dc76.json"
    import_paths(store, settings, [shared / "hf-daily" / f"2026-07-{d}.json" for d in DAYS] + [hostile, astro])
    recompute_trending(store, datetime(2026, 8, 1, tzinfo=UTC))
    with served(create_app(settings, store)) as url:
        yield url, store
    store.close()


def raw_day(day: str) -> list[dict[str, Any]]:
    path = Path(__file__).resolve().parent / "fixtures" / "data" / "hf-daily" / f"{day}.json"
    return list(json.loads(path.read_text()))


def client(url: str, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=url, token=token)


def test_list_daily_papers_defaults_to_the_latest_day(instance: tuple[str, Any]) -> None:
    url, _ = instance
    papers = list(client(url).list_daily_papers())
    raw = {e["paper"]["id"]: e for e in raw_day("2026-07-31")}
    assert {p.id for p in papers} == set(raw)
    for p in papers:
        entry = raw[p.id]
        assert p.title == entry["paper"]["title"]
        assert [a.name for a in p.authors or []] == [a["name"] for a in entry["paper"]["authors"]]
        assert p.summary and p.summary.split()[:5] == entry["paper"]["summary"].split()[:5]
        assert p.upvotes == (entry["paper"]["upvotes"] or None)  # the client reads 0 upvotes as None
        assert p.comments == entry["numComments"]
        assert p.submitted_at == datetime(2026, 7, 31, tzinfo=UTC)
        assert p.published_at == datetime.fromisoformat(entry["paper"]["publishedAt"].replace("Z", "+00:00"))
        submitter = " ".join(entry["paper"]["submittedOnDailyBy"]["fullname"].split())
        assert p.submitted_by is not None and p.submitted_by.username == submitter
        assert p.github_repo == entry["paper"].get("githubRepo")
        assert p.ai_keywords == (entry["paper"].get("ai_keywords") or [])
        # Nothing left over overwrote a parsed attribute (the client copies unknown top-level keys).
        assert isinstance(p.comments, int) and not hasattr(p, "paper")


def test_periods_limit_paging_and_submitter(instance: tuple[str, Any]) -> None:
    api = client(instance[0])
    day = raw_day("2026-07-29")
    assert {p.id for p in api.list_daily_papers(date="2026-07-29")} == {e["paper"]["id"] for e in day}
    assert len(list(api.list_daily_papers(date="2026-07-29", limit=10))) == 10
    pages = [[p.id for p in api.list_daily_papers(week="2026-W31", limit=40, p=n)] for n in range(6)]
    week = set().union(*map(set, pages))
    assert sum(map(len, pages)) == len(week) and not pages[-1]  # no paper on two pages; the last is past the end
    every = {e["paper"]["id"] for d in DAYS for e in raw_day(f"2026-07-{d}")}
    assert week == every | {"2607.00001"}
    assert len(list(api.list_daily_papers(month="2026-07", limit=100))) == 100
    assert list(api.list_daily_papers(week="2026-W31", p=100)) == []
    assert list(api.list_daily_papers(date="2026-08-02")) == []
    who = " ".join(day[0]["paper"]["submittedOnDailyBy"]["fullname"].split())
    theirs = list(api.list_daily_papers(date="2026-07-29", submitter=who.upper()))
    assert theirs and {p.submitted_by.username for p in theirs if p.submitted_by} == {who}
    assert len(theirs) == sum(" ".join(e["paper"]["submittedOnDailyBy"]["fullname"].split()) == who for e in day)


def test_sort_trending_is_papertrends_own_ranking(instance: tuple[str, Any]) -> None:
    url, _ = instance
    ranking = [p["id"] for p in httpx.get(f"{url}/trending.json", params={"window": "week"}).json()["papers"]]
    trending = [p.id for p in client(url).list_daily_papers(sort="trending", limit=20)]
    assert trending == ranking[:20] and len(trending) == 20
    day = [p.id for p in client(url).list_daily_papers(date="2026-07-31", sort="trending")]
    today = [p["id"] for p in httpx.get(f"{url}/trending.json", params={"window": "today"}).json()["papers"]]
    ranked_today = [i for i in today if i in set(day)]
    assert day[:len(ranked_today)] == ranked_today and len(ranked_today) > 5


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def test_the_rules_the_client_enforces(instance: tuple[str, Any]) -> None:
    url, _ = instance
    for path, params in [("/api/daily_papers", {}), ("/api/daily_papers", {"week": "2026-W31"}),
                         ("/api/papers/search", {"q": "world model"})]:
        body = httpx.get(url + path, params=params).json()
        assert isinstance(body, list) and body, path  # a bare array, never an object
        for item in body:
            assert not {"authors", "upvotes", "summary", "comments"} & set(item), item.keys()
            assert {"ai_summary", "ai_keywords", "projectPage", "githubRepo", "githubStars"} <= set(item)
            assert item["submittedBy"] is None or set(item["submittedBy"]) >= {"user", "fullname", "avatarUrl"}
        for key, value in walk(body):
            if key.endswith("At") and value is not None:
                assert isinstance(value, str) and value.endswith("Z") and "+00:00" not in value, (key, value)
    info = httpx.get(f"{url}/api/papers/2607.28624").json()
    assert all(v.endswith("Z") for k, v in walk(info) if k.endswith("At") and v is not None)
    # Same answer for everyone: an ETag, and 304 for a client that has it.
    first = httpx.get(f"{url}/api/daily_papers", params={"week": "2026-W31"})
    again = httpx.get(f"{url}/api/daily_papers", params={"week": "2026-W31"},
                      headers={"if-none-match": first.headers["etag"], "authorization": f"Bearer {TOKEN}"})
    assert again.status_code == 304 and first.headers["content-type"] == "application/json"


@pytest.mark.parametrize("params, words", [
    ({"date": "2026-13-45"}, "date"), ({"date": "yesterday"}, "date"), ({"week": "2026-W99"}, "week"),
    ({"month": "July"}, "month"), ({"sort": "hot"}, "sort"), ({"limit": "0"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"p": "-1"}, "p"), ({"date": "2026-07-31", "week": "2026-W31"}, "one of"),
])
def test_bad_arguments_are_400_with_the_reason(instance: tuple[str, Any], params: dict[str, str], words: str) -> None:
    url, _ = instance
    r = httpx.get(f"{url}/api/daily_papers", params=params)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert words in r.json()["error"]
    with pytest.raises(HfHubHTTPError) as caught:
        list(client(url).list_daily_papers(**{k: v for k, v in params.items() if k != "p"},
                                           **({"p": int(params["p"])} if "p" in params else {})))
    assert words in str(caught.value)


def test_unknown_bearer_tokens_are_ignored_on_reads_and_never_logged(instance: tuple[str, Any],
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    url, _ = instance
    caplog.set_level(logging.DEBUG)
    api = client(url, token=TOKEN)
    assert len(list(api.list_daily_papers(limit=5))) == 5
    assert list(api.list_papers(query="world model", limit=3))
    assert TOKEN not in caplog.text


def test_search_info_and_read(instance: tuple[str, Any]) -> None:
    url, _ = instance
    api = client(url)
    hits = list(api.list_papers(query="PhiZero physical language", limit=5))
    assert hits and hits[0].id == "2607.28624" and len(hits) <= 5
    info = api.paper_info("2607.28624")
    assert info.title == "PhiZero: A World Model Built Around Physical Language"
    assert info.submitted_by is not None and info.submitted_by.username == "taesiri"
    assert info.submitted_at == datetime(2026, 7, 31, tzinfo=UTC) and info.upvotes == 145
    old = api.paper_info("astro-ph/0601001")  # sent as two path segments, unencoded
    assert old.id == "astro-ph/0601001" and old.authors
    with pytest.raises(HfHubHTTPError) as caught:
        api.paper_info("2607.99999")
    assert caught.value.response.status_code == 404 and "2607.99999" in str(caught.value)
    text = api.read_paper("2607.28624")
    assert text.startswith("# PhiZero: A World Model Built Around Physical Language\n")
    assert "Shuyao Shang" in text and "## Abstract" in text and "<https://arxiv.org/abs/2607.28624>" in text
    assert "http://papers.example/papers/2607.28624" in text
    assert api.read_paper("astro-ph/0601001").startswith("# ")
    with pytest.raises(HfHubHTTPError):
        api.read_paper("2607.99999")


def test_markdown_by_accept_header_and_hostile_text_stays_on_its_line(instance: tuple[str, Any]) -> None:
    url, _ = instance
    r = httpx.get(f"{url}/papers/2607.00001", headers={"accept": "text/markdown"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert r.text == httpx.get(f"{url}/papers/2607.00001.md").text
    lines = r.text.splitlines()
    assert lines[0].startswith("# A title with # a heading") and not any(line.startswith("# ") for line in lines[1:])
    assert "**Authors:** Mallory Eve" in r.text and "First paragraph.\n\nSecond paragraph." in r.text
    assert httpx.get(f"{url}/papers/astro-ph/0601001", headers={"accept": "text/markdown"}).text.startswith("# ")
    assert httpx.get(f"{url}/papers/2607.00001").headers["content-type"].startswith("text/html")
    etag = httpx.get(f"{url}/papers/2607.00001.md").headers["etag"]
    again = httpx.get(f"{url}/papers/2607.00001.md", headers={"if-none-match": etag})
    assert again.status_code == 304


def test_comments_field_and_the_write_endpoints(instance: tuple[str, Any]) -> None:
    url, store = instance
    data = httpx.get(f"{url}/api/papers/2607.28624", params={"field": "comments"}).json()
    # Nobody commented here (imports bring only a count): an empty list, and the imported count.
    assert data["comments"] == [] and data["numComments"] == store.papers.get("2607.28624").num_comments
    assert httpx.get(f"{url}/api/papers/2607.28624", params={"field": "likes"}).status_code == 400
    for method, path in [("POST", "comment"), ("POST", "upvote"), ("DELETE", "upvote")]:
        for headers in ({}, {"authorization": f"Bearer {TOKEN}"}):
            r = httpx.request(method, f"{url}/api/papers/2607.28624/{path}", headers=headers, json={"comment": "hi"})
            assert r.status_code == 401 and "token" in r.json()["error"]
        missing = httpx.request(method, f"{url}/api/papers/2607.99999/{path}")
        assert missing.status_code == 404 and "error" in missing.json()
    assert store.papers.get("2607.28624").upvotes == 145
    r = httpx.get(f"{url}/api/agent-harnesses")
    assert r.status_code == 404 and "error" in r.json()


def hf(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=url, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_UPDATE_CHECK="1",
               COLUMNS="200", NO_COLOR="1")
    return subprocess.run([str(Path(sys.executable).parent / "hf"), "papers", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_hf_papers_command_line(instance: tuple[str, Any], tmp_path: Path) -> None:
    url, _ = instance
    ls = hf(url, tmp_path, "ls", "--date", "2026-07-31", "--limit", "5")
    assert ls.returncode == 0, ls.stderr
    top = [e for e in raw_day("2026-07-31")]
    assert "2607.28624" in ls.stdout or any(e["paper"]["id"] in ls.stdout for e in top)
    listed = json.loads(hf(url, tmp_path, "ls", "--date", "2026-07-31", "--format", "json").stdout)
    assert {p["id"] for p in listed} == {e["paper"]["id"] for e in top}
    by_id = {p["id"]: p for p in listed}
    assert by_id["2607.28624"]["submitted_by_name"] == "taesiri" and by_id["2607.28624"]["upvotes"] == 145
    trending = json.loads(hf(url, tmp_path, "ls", "--sort", "trending", "--limit", "3", "--format", "json").stdout)
    assert len(trending) == 3
    search = hf(url, tmp_path, "search", "PhiZero physical language", "--limit", "3")
    assert search.returncode == 0 and "2607.28624" in search.stdout, search.stderr
    info = hf(url, tmp_path, "info", "2607.28624")
    assert info.returncode == 0 and "PhiZero" in info.stdout and "taesiri" in info.stdout, info.stderr
    read = hf(url, tmp_path, "read", "2607.28624")
    assert read.returncode == 0 and read.stdout.startswith("# PhiZero"), read.stderr
    missing = hf(url, tmp_path, "info", "2607.99999")
    assert missing.returncode != 0 and "not found" in (missing.stdout + missing.stderr)
