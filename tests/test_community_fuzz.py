"""Nothing a visitor sends to the community's forms and pages makes a 5xx: every field of every
form (votes, saves, comments and their edits, reports, moderation, submissions, profiles) and
every path parameter, fuzzed with hypothesis as a signed-in reader, a moderator and a stranger."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.store import Store, open_store
from papertrend.web.app import create_app
from conftest import settings_for
from replay_server import Replay
from web_helpers import csrf, sign_in

TRIED: dict[str, int] = {"requests": 0, "5xx": 0}

hostile = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1000, max_size=1500),
    st.sampled_from(["<script>alert(1)</script>", "'; DROP TABLE votes; --", "\x00", "%00", "../../etc/passwd",
                     "\u202e", "a" * 3000, "-1", "9" * 40, "1e309", "NaN", "٣", "0x10", " 7 ", "", "up", "down",
                     "save", "unsave", "hide", "restore", "suspend", "unsuspend", "dismiss", "paper", "comment",
                     "user", "1", "2607.28624", "hep-th/9901001", "//evil.example", "/\\evil", "javascript:x"]),
)
PAPERS = st.one_of(hostile, st.sampled_from(["2607.28624", "2607.28624v2", "https://arxiv.org/abs/2607.28624",
                                             "https://arxiv.org/pdf/2607.28624v1.pdf", "pt-0123456789ab",
                                             "2202.12139", "2405.13786v1", "hep-th/9901001", "2607.99999"]))


@pytest.fixture(scope="module")
def clients(module_database_url: str, tmp_path_factory: pytest.TempPathFactory,
            shared: Path) -> Iterator[dict[str, TestClient]]:
    # On both stores: PostgreSQL refuses what SQLite takes (a NUL in text).
    stack = contextlib.ExitStack()
    # arXiv is the replay server of recorded answers (an arXiv outage is tested, as a 502 with a
    # retry message, in test_community_submit.py: it is not something a visitor sends).
    replay = stack.enter_context(Replay(shared))
    settings = settings_for(module_database_url, tmp_path_factory.mktemp("community-fuzz"),
                            secret_key="fuzz-secret-0123456789", embed_on_import=False, base_url="http://testserver",
                            web_sends_mail=False, votes_per_minute=100000, comments_per_hour=100000,
                            trending_refresh_seconds=0.0, arxiv_min_interval=0.0,
                            arxiv_api_url=replay.url + "/api/query", submission_max_age_days=100000,
                            submission_daily_cap=100000)
    store: Store = open_store(settings)
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-30.json", shared / "hf-daily" / "2026-07-31.json"])
    app = create_app(settings, store)
    out = {"reader": TestClient(app, raise_server_exceptions=False, follow_redirects=False),
           "moderator": TestClient(app, raise_server_exceptions=False, follow_redirects=False),
           "stranger": TestClient(app, raise_server_exceptions=False, follow_redirects=False)}
    sign_in(out["reader"], "reader@example.org")
    sign_in(out["moderator"], "mod@example.org", role="moderator")
    out["reader"].post("/comments", data={"paper": "2607.28624", "body": "first", "csrf": csrf(out["reader"], "/")})
    with out["reader"]:
        yield out
    store.close()
    stack.close()


def _check(r: httpx.Response, what: str) -> None:
    status = r.status_code
    TRIED["requests"] += 1
    if status >= 500:
        TRIED["5xx"] += 1
    assert status < 500, f"{what} answered {status}"


FUZZ = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@FUZZ
@given(who=st.sampled_from(["reader", "moderator", "stranger"]), paper=PAPERS, action=hostile, nxt=hostile,
       json=st.booleans())
def test_vote_and_save(clients: dict[str, TestClient], who: str, paper: str, action: str, nxt: str,
                       json: bool) -> None:
    c = clients[who]
    headers = {"accept": "application/json"} if json else {}
    for path in ("/vote", "/save"):
        _check(c.post(path, data={"paper": paper, "action": action, "next": nxt, "csrf": csrf(c, "/")},
                      headers=headers), path)


@FUZZ
@given(who=st.sampled_from(["reader", "moderator", "stranger"]), paper=PAPERS, body=hostile, parent=hostile,
       comment=hostile, action=hostile)
def test_comments(clients: dict[str, TestClient], who: str, paper: str, body: str, parent: str, comment: str,
                  action: str) -> None:
    c = clients[who]
    token = csrf(c, "/")
    _check(c.post("/comments", data={"paper": paper, "body": body, "parent": parent, "csrf": token}), "/comments")
    target = quote(comment, safe="") or "1"
    _check(c.get(f"/comments/{target}/edit"), "GET edit")
    _check(c.post(f"/comments/{target}/edit", data={"body": body, "action": action, "csrf": token}), "POST edit")
    _check(c.post("/comments/1/edit", data={"body": body, "action": action, "csrf": token}), "POST edit 1")


@FUZZ
@given(who=st.sampled_from(["reader", "moderator", "stranger"]), kind=hostile, target=hostile, reason=hostile,
       action=hostile, nxt=hostile)
def test_reports_and_moderation(clients: dict[str, TestClient], who: str, kind: str, target: str, reason: str,
                                action: str, nxt: str) -> None:
    c = clients[who]
    token = csrf(c, "/")
    _check(c.post("/report", data={"kind": kind, "target": target, "reason": reason, "next": nxt, "csrf": token}),
           "/report")
    _check(c.post("/moderation", data={"action": action, "kind": kind, "target": target, "reason": reason,
                                       "next": nxt, "csrf": token}), "/moderation")
    for path in ("/moderation", "/moderation.json", "/admin/audit", f"/admin/audit.json?page={quote(target)}"):
        _check(c.get(path), path)


@FUZZ
@given(who=st.sampled_from(["reader", "stranger"]), paper=PAPERS, name=hostile, page=hostile)
def test_submit_profile_library(clients: dict[str, TestClient], who: str, paper: str, name: str, page: str) -> None:
    c = clients[who]
    token = csrf(c, "/")
    _check(c.post("/submit", data={"paper": paper, "csrf": token}), "/submit")
    _check(c.post("/profile", data={"votes_public": name, "csrf": token}), "/profile")
    _check(c.get(f"/u/{quote(name, safe='') or 'x'}"), "/u/")
    _check(c.get(f"/u/{quote(name, safe='') or 'x'}.json"), "/u/.json")
    for path in ("/library", "/library.json", "/library.bib", "/submit"):
        _check(c.get(f"{path}?page={quote(page)}"), path)


def test_community_fuzz_counts_are_reported() -> None:
    """Runs last in this module: the totals for the closing note (pytest -s shows them)."""
    print(f"\ncommunity fuzz: {TRIED['requests']} requests, {TRIED['5xx']} server errors")
    assert TRIED["requests"] > 0 and TRIED["5xx"] == 0
