"""Categories for every paper: the arXiv metadata job (``papertrend ingest metadata``) against the
replay server, the category filter and picker of /trending, listing-only papers matched to arXiv
by title, and the mangled entity of the Hugging Face text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.jobs import JOBS, fill_metadata
from papertrend.rank.recompute import recompute_trending
from papertrend.sources import read_path
from papertrend.web.app import create_app
from replay_server import Replay

# Hugging Face days whose papers the recorded arXiv listings (2026-06-16..07-01) also hold.
HF_DAYS = ["2026-06-16", "2026-06-17", "2026-06-18", "2026-06-19", "2026-06-22", "2026-06-23", "2026-06-24",
           "2026-06-25", "2026-06-26", "2026-06-29", "2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03"]


@pytest.fixture
def replay(shared: Path):
    with Replay(shared) as r:
        yield r


def _env(replay: Replay, interval: str = "0") -> dict[str, str]:
    return {"PAPERTREND_ARXIV_API_URL": replay.url + "/api/query", "PAPERTREND_ARXIV_MIN_INTERVAL": interval}


def _listed_on_arxiv(shared: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in sorted((shared / "arxiv-listings").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            p = json.loads(line)
            out.setdefault(p["id"], p["categories"])
    return out


def _hf_days(store, settings, shared: Path) -> None:
    import_paths(store, settings, [shared / "hf-daily" / f"{d}.json" for d in HF_DAYS])
    recompute_trending(store)


def test_metadata_job_fills_categories_and_cv_trending_appears(run_cli, store, settings, shared: Path,
                                                               replay: Replay) -> None:
    _hf_days(store, settings, shared)
    missing = store.papers.without_categories("", 10_000)
    assert len(missing) == store.papers.count()  # Hugging Face gives no category at all
    app = TestClient(create_app(settings, store))
    before = app.get("/trending.json?window=month&category=cs.CV").json()
    assert before["papers"] == [] and before["total"] == 0

    out = run_cli("ingest", "metadata", env=_env(replay)).stdout
    listed = _listed_on_arxiv(shared)
    expected = [pid for pid in missing if pid in listed]
    asked = [r["query"]["id_list"].split(",") for r in replay.log]
    full, rest = divmod(len(missing), 100)
    assert [len(a) for a in asked] == [100] * full + ([rest] if rest else [])
    assert sorted(i for a in asked for i in a) == sorted(missing)  # every paper asked once, in batches
    assert f"filled {len(expected)}" in out and f"requests {len(asked)}" in out
    for pid in expected:
        assert store.papers.get(pid).categories == listed[pid]  # arXiv's metadata, primary first
    assert len(store.papers.without_categories("", 10_000)) == len(missing) - len(expected)

    web = TestClient(create_app(settings, store))
    after = web.get("/trending.json?window=month&category=cs.CV").json()
    cv = [pid for pid in expected if "cs.CV" in listed[pid]]
    assert after["total"] == len(cv) > settings.page_size  # more than a page: the pager leads on
    assert after["pagination"]["next_page"] == 2
    rest = web.get("/trending.json?window=month&category=cs.CV&page=2").json()
    ranked = after["papers"] + rest["papers"]
    assert [p["rank"] for p in ranked] == list(range(1, len(cv) + 1))  # renumbered in the filter
    assert sorted(p["id"] for p in ranked) == sorted(cv)
    assert all(p["overall_rank"] >= p["rank"] for p in ranked) and ranked[-1]["overall_rank"] > len(cv)
    names = {c["code"]: c["name"] for c in after["categories"]}
    assert names["cs.CV"] == "cs.CV — Computer Vision and Pattern Recognition"
    assert store.coordination.get_cursor("arxiv-metadata") is None  # a finished run leaves no cursor

    # Re-run: asks only about what arXiv did not answer, changes nothing.
    replay.log.clear()
    out = run_cli("ingest", "metadata", env=_env(replay)).stdout
    assert sorted(i for r in replay.log for i in r["query"]["id_list"].split(",")) == sorted(
        pid for pid in missing if pid not in listed)
    assert "filled 0" in out and "updated 0" in out


def test_metadata_job_resumes_after_a_failure_and_keeps_arxivs_pace(store, settings, shared: Path,
                                                                     replay: Replay) -> None:
    _hf_days(store, settings, shared)
    remote = settings.replace(arxiv_api_url=replay.url + "/api/query", arxiv_min_interval=0.25,
                              arxiv_metadata_batch=50, embed_on_import=False)
    replay.fault("/api/query", "", "html")  # the second answer is an HTML error page
    with pytest.raises(Exception, match="api/query"):
        fill_metadata(store, remote)
    first = replay.log[0]["query"]["id_list"].split(",")
    assert store.coordination.get_cursor("arxiv-metadata") == {"phase": "ids", "after": first[-1]}
    replay.log.clear()
    counts = fill_metadata(store, remote)
    resumed = [r["query"]["id_list"].split(",") for r in replay.log]
    assert resumed[0][0] > first[-1] and not set(first) & {i for a in resumed for i in a}  # nothing asked twice
    assert counts["requests"] == len(resumed)
    # One request at a time, each starting arxiv_min_interval after the previous one ended (the
    # server notes its end a moment after the client has read the answer: 50 ms of slack).
    gaps = [b["start"] - a["end"] for a, b in zip(replay.log, replay.log[1:], strict=False)]
    assert gaps and min(gaps) >= 0.25 - 0.05


def test_listing_papers_matched_to_arxiv_by_title(store, settings, shared: Path, replay: Replay,
                                                  tmp_path: Path) -> None:
    listed = [json.loads(line) for line in (shared / "arxiv-listings" / "2026-06-16.jsonl").read_text().splitlines()]
    known = listed[3]
    pasted = tmp_path / "pasted.txt"
    unknown_abstract = " ".join(["words"] * 30)
    pasted.write_text(f"Subscribe\n\n{known['title'].upper()}\n\n{' '.join(known['summary'].split())}\n\n"
                      f"A Paper Nobody Put On arXiv\n\n{unknown_abstract}\n")
    import_paths(store, settings, [shared / "listing-text" / "hf-trending-page.txt"])
    page = len(store.papers.listing_only("", 1000))
    import_paths(store, settings, [pasted])
    local = [pid for pid, _ in store.papers.listing_only("", 1000)]
    assert len(local) == page + 2
    remote = settings.replace(arxiv_api_url=replay.url + "/api/query", arxiv_min_interval=0.0, embed_on_import=False)
    counts = fill_metadata(store, remote)
    # The copied trending page's papers are not among the recorded arXiv answers: none is matched.
    assert counts["searched"] == page + 2 and counts["matched"] == 1 and counts["unmatched"] == page + 1
    assert all(r["query"]["search_query"].startswith('ti:"') for r in replay.log)
    (matched,) = [store.papers.get(pid) for pid in local if store.papers.get(pid).authors]
    assert [a.name for a in matched.authors] == known["authors"]
    assert matched.categories == known["categories"] and matched.published == "2026-06-16"
    assert matched.abs_url and matched.abs_url.endswith(known["id"] + "v1") and matched.pdf_url
    assert matched.list_date == "2026-06-16"
    assert len(store.papers.listing_only("", 1000)) == page + 1  # the unmatched stay, asked again next run
    assert store.papers.get(known["id"]) is None  # merged into the listing's paper, not a second copy


def test_schedule_and_setting_of_the_metadata_job(settings) -> None:
    spec = next(j for j in JOBS if j.name == "metadata")
    assert spec.cron(settings) == settings.schedule_metadata and settings.arxiv_metadata_batch == 100


@pytest.mark.parametrize("name", ["hf-daily/2025-06-25.json", "listing-text/hf-trending-page.txt",
                                  "hf-daily/2025-10-03.json"])
def test_stripped_numeric_entities_are_restored(shared: Path, name: str) -> None:
    """tests/fixtures/data/hf-daily/2025-06-25.json says "textx2013even" (the &#x2013; of an en
    dash with "&#" and ";" stripped); the parsers restore the dash."""
    records = [r for r in read_path(shared / name) if hasattr(r, "abstract")]
    text = " ".join(r.abstract or "" for r in records)
    assert "x2013" not in text and "x2014" not in text
    assert {"2025-06-25.json": "text\u2013even under", "hf-trending-page.txt": "scratch\u2013even for",
            "2025-10-03.json": "coordinates\u2013without"}[Path(name).name] in text
