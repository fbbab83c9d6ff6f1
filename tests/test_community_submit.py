"""Submitting a paper by arXiv id or link, against the replay server's recorded arXiv answers:
the paper comes through the polite client and the importer, lands on the day's list "submitted
by" the reader with their upvote; the age rule (with an injected clock), the daily cap, an
existing paper and an unreachable arXiv each behave as the reader is told, storing nothing half."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.accounts.signin import add_user
from papertrend.config import Settings
from papertrend.errors import BadRequest, RemoteError, TooManyRequests
from papertrend.ingest.polite import PoliteClient
from papertrend.ingest.submit import parse_submission, submit_paper
from papertrend.store import Store
from papertrend.web.app import create_app
from replay_server import Replay
from web_helpers import csrf, sign_in

PAPER = "2202.12139"                      # a recorded entry, first published 2022-02-24
PUBLISHED = datetime(2022, 2, 24, 15, tzinfo=UTC)


@pytest.fixture
def replay(shared: Path) -> Iterator[Replay]:
    with Replay(shared) as r:
        yield r


@pytest.fixture
def remote(settings: Settings, replay: Replay) -> Settings:
    return settings.replace(arxiv_api_url=replay.url + "/api/query", arxiv_min_interval=0.0, embed_on_import=False,
                            base_url="http://testserver", web_sends_mail=False, trending_refresh_seconds=0.0)


@pytest.fixture
def quick(store: Store, remote: Settings) -> Iterator[PoliteClient]:
    """A client that does not really sleep between retries (the replay server's Retry-After)."""
    client = PoliteClient(store, remote, "arxiv", 0.0, sleep=lambda s: None, max_wait=5.0, timeout=5.0)
    yield client
    client.close()


@pytest.mark.parametrize("text", ["2202.12139", " 2202.12139v1 ", "https://arxiv.org/abs/2202.12139v2",
                                  "https://arxiv.org/pdf/2202.12139", "https://arxiv.org/pdf/2202.12139v1.pdf",
                                  "http://arxiv.org/abs/2202.12139?context=cs",
                                  "arXiv:2202.12139"])
def test_ids_and_links_are_understood(text: str) -> None:
    assert parse_submission(text) == PAPER


@pytest.mark.parametrize("text", ["", "hello", "https://evil.example/abs/2202.12139", "2202.1", "../2202.12139"])
def test_anything_else_is_a_clear_error(text: str) -> None:
    with pytest.raises(BadRequest, match="not an arXiv id or link"):
        parse_submission(text)


def test_a_fresh_paper_is_stored_on_the_day_submitted_by_the_reader(store: Store, remote: Settings,
                                                                      replay: Replay) -> None:
    ada = add_user(store, "ada@example.org", "reader")
    now = PUBLISHED + timedelta(days=3)
    done = submit_paper(store, remote, ada, f"https://arxiv.org/abs/{PAPER}v1", now=now.timestamp())
    assert done.new and done.paper_id == PAPER
    paper = store.papers.get(PAPER)
    assert paper is not None and paper.title and paper.authors
    assert (paper.daily_date, paper.list_date, paper.submitter) == ("2022-02-27", "2022-02-27", ada.name)
    assert store.community.submitted_by(ada.id) == [PAPER]
    assert [e["query"]["id_list"] for e in replay.log] == [PAPER]
    assert store.runs.ingest_runs(limit=1)[0].kind == "submit"
    # Submitted again (by anyone): not fetched again, the reader is taken to it.
    again = submit_paper(store, remote, add_user(store, "bob@example.org", "reader"), PAPER, now=now.timestamp())
    assert not again.new and len(replay.log) == 1


def test_the_age_rule_with_an_injected_clock(store: Store, remote: Settings, replay: Replay) -> None:
    ada = add_user(store, "ada@example.org", "reader")
    late = PUBLISHED + timedelta(days=15)
    with pytest.raises(BadRequest, match="first published on 2022-02-24.*14 days"):
        submit_paper(store, remote, ada, PAPER, now=late.timestamp())
    assert store.papers.get(PAPER) is None and store.community.submitted_by(ada.id) == []
    relaxed = remote.replace(submission_max_age_days=20)
    assert submit_paper(store, relaxed, ada, PAPER, now=late.timestamp()).new


def test_the_daily_cap(store: Store, remote: Settings) -> None:
    ada = add_user(store, "ada@example.org", "reader")
    capped = remote.replace(submission_daily_cap=1, submission_max_age_days=100000)
    submit_paper(store, capped, ada, PAPER)
    with pytest.raises(TooManyRequests, match="1 papers in the last 24 hours"):
        submit_paper(store, capped, ada, "2405.13786")
    assert store.papers.get("2405.13786") is None


def test_arxiv_unreachable_gives_a_retry_message_and_stores_nothing(store: Store, remote: Settings,
                                                                    replay: Replay, quick: PoliteClient) -> None:
    ada = add_user(store, "ada@example.org", "reader")
    replay.fault("/api/query", *["503"] * 20)
    with pytest.raises(RemoteError, match="could not be reached.*Nothing was stored; try again"):
        submit_paper(store, remote, ada, PAPER, now=PUBLISHED.timestamp(), client=quick)
    replay.faults.clear()
    replay.fault("/api/query", "truncate")
    with pytest.raises(RemoteError, match="could not be read.*try again"):
        submit_paper(store, remote, ada, PAPER, now=PUBLISHED.timestamp(), client=quick)
    assert store.papers.get(PAPER) is None and store.community.submitted_by(ada.id) == []
    with pytest.raises(BadRequest, match="arXiv has no paper 2607.99999"):
        submit_paper(store, remote, ada, "2607.99999", now=PUBLISHED.timestamp())


def test_submitting_from_the_site(store: Store, remote: Settings, replay: Replay) -> None:
    site = remote.replace(submission_max_age_days=100000)
    app = create_app(site, store)
    reader = TestClient(app, follow_redirects=False)
    assert reader.get("/submit").status_code == 303          # signed out: sign in first
    ada = sign_in(reader, "ada@example.org")
    r = reader.post("/submit", data={"paper": f"https://arxiv.org/pdf/{PAPER}v1", "csrf": csrf(reader, "/")})
    assert r.status_code == 303 and r.headers["location"] == f"/papers/{PAPER}"
    today = datetime.now(UTC).date().isoformat()
    page = reader.get(f"/papers/{PAPER}").text
    assert f"submitted by {ada.name}" in page and 'value="down" aria-pressed="true"' in page
    day = reader.get(f"/papers/date/{today}").text
    assert f"/papers/{PAPER}" in day and f"submitted by {ada.name}" in day
    assert store.community.vote_count(PAPER) == 1
    # Another reader submits it again: taken to it, with their upvote added.
    bob = TestClient(app, follow_redirects=False)
    sign_in(bob, "bob@example.org")
    r = bob.post("/submit", data={"paper": PAPER, "csrf": csrf(bob, "/")})
    assert r.headers["location"] == f"/papers/{PAPER}?already=1"
    assert "already here: your upvote is added" in bob.get(r.headers["location"]).text
    assert store.community.vote_count(PAPER) == 2 and len(replay.log) == 1
    # Errors come back on the form, with what was typed.
    r = bob.post("/submit", data={"paper": "not an id <b>", "csrf": csrf(bob, "/")})
    assert r.status_code == 400 and "not an arXiv id or link" in r.text and "&lt;b&gt;" in r.text
    assert bob.post("/submit", data={"paper": "x", "csrf": csrf(bob, "/")},
                    headers={"accept": "application/json"}).json()["status"] == 400
    # arXiv answering garbage: the reader is told to retry, nothing is stored.
    replay.fault("/api/query", "html")
    r = bob.post("/submit", data={"paper": "2405.13786", "csrf": csrf(bob, "/")})
    assert r.status_code == 502 and "try again in a few minutes" in r.text and 'value="2405.13786"' in r.text
    assert store.papers.get("2405.13786") is None


def test_the_cap_holds_for_submissions_sent_at_once(store: Store, remote: Settings, replay: Replay) -> None:
    """A second submission while the account's first is still being fetched from arXiv is
    refused: the cap's count cannot run before the first one is recorded (on PostgreSQL, each
    web process would otherwise count alone)."""
    ada = add_user(store, "ada@example.org", "reader")
    capped = remote.replace(submission_daily_cap=1, submission_max_age_days=100000)
    replay.slow_seconds = 2.0
    replay.fault("/api/query", "slow")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(submit_paper, store, capped, ada, PAPER)
        deadline = time.monotonic() + 30
        while not replay.log and time.monotonic() < deadline:   # the first is waiting for arXiv now
            time.sleep(0.02)
        with pytest.raises(TooManyRequests, match="still being fetched"):
            submit_paper(store, capped, ada, "2405.13786")
        assert first.result().new
    with pytest.raises(TooManyRequests, match="1 papers in the last 24 hours"):
        submit_paper(store, capped, ada, "2405.13786")
    assert store.papers.get("2405.13786") is None and store.community.submitted_by(ada.id) == [PAPER]
