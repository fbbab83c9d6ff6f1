"""Instances that read each other: ``papertrend ingest hf --endpoint URL`` follows another
papertrend through its Hugging Face–compatible API, as it follows Hugging Face itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store
from papertrend.web.app import create_app

from conftest import settings_for
from replay_server import Replay
from web_helpers import served

DAYS = [f"2026-07-{d}" for d in ("27", "28", "29", "30", "31")]
ENV = {"PAPERTREND_HF_MIN_INTERVAL": "0", "PAPERTREND_CONTACT_EMAIL": "ops@example.org"}
COMPARED = ("id", "title", "authors", "abstract", "upvotes", "num_comments", "submitter", "organization",
            "daily_date", "list_date", "published", "code_url", "github_stars", "project_page", "ai_summary",
            "ai_keywords")


@pytest.fixture
def first(another_database_url: str, tmp_path: Path, shared: Path) -> Iterator[tuple[str, Any]]:
    """The instance being followed: five real Hugging Face days, served on loopback (on the
    same store as the one following it)."""
    settings = settings_for(another_database_url, tmp_path / "first", embed_on_import=False)
    store = open_store(settings)
    import_paths(store, settings, [shared / "hf-daily" / f"{day}.json" for day in DAYS])
    recompute_trending(store, datetime(2026, 8, 1, tzinfo=UTC))
    app = create_app(settings, store)
    with served(app) as url:
        yield url, app
    store.close()


def day_papers(client: TestClient, day: str) -> list[dict[str, Any]]:
    papers = client.get(f"/papers/date/{day}.json").json()["papers"]
    return [{k: p[k] for k in COMPARED} for p in papers]


def test_second_instance_shows_the_firsts_papers_upvotes_and_submitters(first: tuple[str, Any], run_cli, store,
                                                                        settings) -> None:
    url, first_app = first
    out = run_cli("ingest", "hf", "--endpoint", url, "--since", DAYS[0], "--until", DAYS[-1], env=ENV).stdout
    a = TestClient(first_app)
    b = TestClient(create_app(settings, store))
    total = sum(len(a.get(f"/papers/date/{day}.json").json()["papers"]) for day in DAYS)
    assert f"new {total}" in out and total > 100
    for day in DAYS:
        theirs, ours = day_papers(a, day), day_papers(b, day)
        assert ours == theirs and ours, day  # same papers, same order, upvotes, submitters, comments, links
    assert any(p["submitter"] for p in day_papers(b, DAYS[-1])) and any(p["organization"] for day in DAYS
                                                                      for p in day_papers(b, day))
    # The run is recorded against the instance it read.
    run = store.runs.ingest_runs()[0]
    assert run.kind == "hf" and url in run.detail and run.status == "ok"
    # Again: nothing new, nothing changed.
    again = run_cli("ingest", "hf", "--endpoint", url, "--since", DAYS[0], "--until", DAYS[-1], env=ENV).stdout
    assert "new 0" in again and f"unchanged {total}" in again
    # And a third reader, the Hugging Face client, sees the same on both.
    with served(b.app) as second:
        for day in DAYS:
            mine = [(p.id, p.upvotes, p.submitted_by.username if p.submitted_by else None, p.comments)
                    for p in HfApi(endpoint=second, token=False).list_daily_papers(date=day, limit=100)]
            theirs = [(p.id, p.upvotes, p.submitted_by.username if p.submitted_by else None, p.comments)
                      for p in HfApi(endpoint=url, token=False).list_daily_papers(date=day, limit=100)]
            assert mine == theirs and mine


def test_pages_through_a_day_larger_than_one_request(first: tuple[str, Any], run_cli, store, tmp_path: Path,
                                                     shared: Path) -> None:
    url, first_app = first
    big = tmp_path / "2026-08-03.json"  # a day of 250 papers, in Hugging Face's own format
    big.write_text(json.dumps([{"paper": {"id": f"2608.{n:05d}", "title": f"Paper number {n}", "authors": [],
                                          "upvotes": n % 7, "submittedOnDailyAt": "2026-08-03T00:00:00.000Z",
                                          "submittedOnDailyBy": {"fullname": "bulk", "user": "bulk"}},
                                "numComments": 0} for n in range(1, 251)]))
    import_paths(first_app.state.store, first_app.state.settings, [big])
    first_app.state.data_version._at = 0.0
    out = run_cli("ingest", "hf", "--endpoint", url, "--date", "2026-08-03", env=ENV).stdout
    assert "new 250" in out and "requests 3" in out  # 100, 100, 50
    assert store.papers.count_in_range("2026-08-03", "2026-08-03") == 250


def test_an_interrupted_harvest_resumes_at_the_day_it_stopped(run_cli, shared: Path) -> None:
    with Replay(shared) as replay:
        replay.fault("/api/daily_papers", "none", "none", "html")  # the third day's answer is an error page
        failed = run_cli("ingest", "hf", "--endpoint", replay.url, "--since", DAYS[0], "--until", DAYS[-1],
                         env=ENV, ok=False)
        assert failed.exit_code != 0 and "HTML" in failed.output
        asked = [e["query"]["date"] for e in replay.log]
        assert asked == DAYS[:3]
        run_cli("ingest", "hf", "--endpoint", replay.url, "--since", DAYS[0], "--until", DAYS[-1], env=ENV)
        assert [e["query"]["date"] for e in replay.log[3:]] == DAYS[2:]  # days 1 and 2 are not fetched again


@pytest.mark.parametrize("endpoint", ["ftp://example.org", "not a url", "http://"])
def test_a_bad_endpoint_is_named(run_cli, endpoint: str) -> None:
    result = run_cli("ingest", "hf", "--endpoint", endpoint, "--date", DAYS[0], env=ENV, ok=False)
    assert result.exit_code == 2 and "--endpoint" in result.output
