"""The API and the feeds with the community in them, from the user's side: a moderator hides a
paper (and a comment) on the site, and every API list, search, paper, Markdown page and feed
drops it at once (an old ETag gets the new answer, not 304); comments in ``?field=comments``;
personal API tokens made and revoked on the account page, with which a script comments and
upvotes as the site's forms do; a local submitter named in the API."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from sqlalchemy import select
from starlette.testclient import TestClient

from papertrend.accounts.signin import add_user
from papertrend.config import Settings
from papertrend.ingest.importer import import_paths
from papertrend.store import schema
from papertrend.ingest.polite import PoliteClient
from papertrend.ingest.submit import submit_paper
from papertrend.rank.recompute import recompute_trending
from papertrend.store import Store
from papertrend.web.app import create_app
from replay_server import Replay
from web_helpers import csrf, served, sign_in

BASE = "http://papers.example"
DAYS = ("27", "28", "29", "30", "31")


@pytest.fixture
def site(store: Store, settings: Settings, shared: Path) -> Iterator[tuple[str, Any]]:
    """Five real Hugging Face days, served (for the real client) and as a TestClient's app (for
    the site's forms): one app, as one web process serves both."""
    settings = settings.replace(base_url=BASE, web_sends_mail=False, trending_refresh_seconds=0.0,
                                votes_per_minute=6, comments_per_hour=5)
    import_paths(store, settings, [shared / "hf-daily" / f"2026-07-{d}.json" for d in DAYS])
    recompute_trending(store, datetime(2026, 8, 1, tzinfo=UTC))
    app = create_app(settings, store)
    with served(app) as url:
        yield url, app


def _browser(app: Any, email: str, role: str = "reader") -> TestClient:
    client = TestClient(app, follow_redirects=False)
    sign_in(client, email, role)
    return client


def _moderate(mod: TestClient, action: str, kind: str, target: str) -> None:
    r = mod.post("/moderation", data={"action": action, "kind": kind, "target": target, "reason": "test",
                                      "csrf": csrf(mod, "/")})
    assert r.status_code == 303, r.text[:300]


def _token(client: TestClient, name: str = "script") -> str:
    """A new personal API token, made on the account page as a reader would."""
    r = client.post("/account/tokens", data={"action": "create", "name": name, "csrf": csrf(client, "/account")})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.headers
    match = re.search(r'<code class="api-token">(pt_[A-Za-z0-9_-]+)</code>', r.text)
    assert match, "the new token is shown"
    return match.group(1)


def _feed_ids(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[list[str], httpx.Response]:
    r = httpx.get(url + path, headers=headers or {})
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    feed = feedparser.parse(r.content)
    assert feed.bozo == 0, (path, feed.get("bozo_exception"))
    return [e.id.removeprefix(f"{BASE}/papers/") for e in feed.entries], r


def _api_ids(url: str, path: str, **params: Any) -> list[str]:
    r = httpx.get(url + path, params=params)
    assert r.status_code == 200, (path, params, r.text[:200])
    return [item["paper"]["id"] for item in r.json()]


def test_a_hidden_paper_leaves_every_api_list_feed_and_markdown_page_at_once(site: tuple[str, Any],
                                                                             store: Store) -> None:
    url, app = site
    latest = set(_api_ids(url, "/api/daily_papers", limit=100))
    trending = _api_ids(url, "/api/daily_papers", sort="trending", limit=100)
    target = next(i for i in trending if i in latest)
    paper = store.papers.get(target)
    assert paper is not None and paper.list_date
    words = " ".join(paper.title.split()[:6])
    week = datetime.fromisoformat(paper.list_date).isocalendar()
    lists: list[tuple[str, dict[str, Any]]] = [
        ("/api/daily_papers", {"limit": 100}), ("/api/daily_papers", {"sort": "trending", "limit": 100}),
        ("/api/daily_papers", {"date": paper.list_date, "limit": 100}),
        ("/api/daily_papers", {"date": paper.list_date, "sort": "trending", "limit": 100}),
        ("/api/daily_papers", {"week": f"{week.year}-W{week.week:02d}", "sort": "trending", "limit": 100}),
        ("/api/daily_papers", {"month": paper.list_date[:7], "sort": "trending", "limit": 100}),
        ("/api/papers/search", {"q": words, "limit": 100})]
    if paper.submitter:
        lists.append(("/api/daily_papers", {"date": paper.list_date, "submitter": paper.submitter}))
    reader = _browser(app, "reader@example.org")
    reader.post("/account/feed", data={"action": "renew", "csrf": csrf(reader, "/account")})
    digest = re.search(r'<code class="feed-address">http://papers\.example(/feeds/digest/[^<]+)\.rss</code>',
                       reader.get("/account").text)
    assert digest
    feeds = [f"/feeds/{name}.{fmt}" for name in ("daily", "trending") for fmt in ("rss", "atom")] + [
        f"/feeds/search.rss?q={words}", f"/feeds/search.atom?q={words}", f"{digest.group(1)}.rss",
        f"{digest.group(1)}.atom"]
    for path, params in lists:
        assert target in _api_ids(url, path, **params), (path, params)
    etags = {}
    for path in feeds:
        ids, response = _feed_ids(url, path)
        assert target in ids, path
        etags[path] = response.headers["etag"]
    api_etag = httpx.get(f"{url}/api/daily_papers", params={"limit": 100}).headers["etag"]
    assert httpx.get(f"{url}/api/papers/{target}").status_code == 200
    md = httpx.get(f"{url}/papers/{target}.md")
    assert md.status_code == 200
    version = store.papers.data_version()

    _moderate(_browser(app, "mod@example.org", "moderator"), "hide", "paper", target)

    assert store.papers.data_version() != version  # the event log is part of the data version
    for path, params in lists:
        assert target not in _api_ids(url, path, **params), (path, params)
    for path in feeds:
        ids, response = _feed_ids(url, path, {"if-none-match": etags[path]})  # 200 with the old ETag, not 304
        assert target not in ids and (ids or "search" in path), path   # a search may have found only it
    fresh = httpx.get(f"{url}/api/daily_papers", params={"limit": 100}, headers={"if-none-match": api_etag})
    assert fresh.status_code == 200 and target not in {i["paper"]["id"] for i in fresh.json()}
    for path in (f"/api/papers/{target}", f"/api/papers/{target}?field=comments"):
        gone = httpx.get(url + path)
        assert gone.status_code == 404 and target in gone.json()["error"]
    assert httpx.get(f"{url}/papers/{target}.md", headers={"if-none-match": md.headers["etag"]}).status_code == 404
    assert httpx.get(f"{url}/papers/{target}", headers={"accept": "text/markdown"}).status_code == 404
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=url, token=False).paper_info(target)
    assert target not in {p.id for p in HfApi(endpoint=url, token=False).list_papers(query=words, limit=100)}


def test_moderated_content_is_gone_from_the_paper_page_search_the_api_and_the_feeds(site: tuple[str, Any],
                                                                                    store: Store) -> None:
    """The community issue's rule: hidden by a moderator, gone from the paper page, search and
    the feeds (and the API)."""
    url, app = site
    ada, mod, stranger = (_browser(app, "ada@example.org"), _browser(app, "mod@example.org", "moderator"),
                          TestClient(app))
    papers = [item["paper"] for item in httpx.get(f"{url}/api/daily_papers", params={"limit": 100}).json()]
    kept, hidden = papers[0], papers[1]
    token = csrf(ada, "/")
    for body in ("A useful remark about the method", "Buy cheap followers at spam dot example"):
        assert ada.post("/comments", data={"paper": kept["id"], "body": body, "csrf": token}).status_code == 303
    spam = next(c for c in store.community.thread(kept["id"]) if "spam" in c.body)
    hidden_words = " ".join(hidden["title"].split()[:6])
    assert "spam dot example" in stranger.get(f"/papers/{kept['id']}").text
    assert hidden["id"] in {p["id"] for p in stranger.get("/search.json", params={"q": hidden_words}).json()["papers"]}

    _moderate(mod, "hide", "comment", str(spam.id))
    _moderate(mod, "hide", "paper", hidden["id"])

    page = stranger.get(f"/papers/{kept['id']}")
    assert "A useful remark" in page.text and "spam dot example" not in page.text
    assert "spam dot example" not in str(stranger.get(f"/papers/{kept['id']}.json").json())
    assert stranger.get(f"/papers/{hidden['id']}").status_code == 404
    for mode in ("hybrid", "fulltext"):
        found = stranger.get("/search.json", params={"q": hidden_words, "mode": mode}).json()["papers"]
        assert hidden["id"] not in {p["id"] for p in found}, mode
        assert f"/papers/{hidden['id']}\"" not in stranger.get("/search", params={"q": hidden_words, "mode": mode}).text
    comments = httpx.get(f"{url}/api/papers/{kept['id']}", params={"field": "comments"}).json()["comments"]
    assert [c["text"] for c in comments] == ["A useful remark about the method"]
    assert hidden["id"] not in _api_ids(url, "/api/papers/search", q=hidden_words, limit=100)
    assert hidden["id"] not in _api_ids(url, "/api/daily_papers", limit=100)
    for path in ("/feeds/daily.rss", "/feeds/daily.atom", "/feeds/trending.rss", "/feeds/trending.atom",
                 f"/feeds/search.rss?q={hidden_words}", f"/feeds/search.atom?q={hidden_words}"):
        ids, _ = _feed_ids(url, path)
        assert hidden["id"] not in ids, path
    _moderate(mod, "restore", "paper", hidden["id"])
    assert hidden["id"] in _api_ids(url, "/api/daily_papers", limit=100)


def test_comments_field_lists_the_shown_comments_as_hugging_face_shapes_them(site: tuple[str, Any],
                                                                             store: Store) -> None:
    url, app = site
    ada, bob = _browser(app, "ada@example.org"), _browser(app, "bob@example.org")
    item = httpx.get(f"{url}/api/daily_papers", params={"limit": 1}).json()[0]
    pid, imported = item["paper"]["id"], item["numComments"]
    assert httpx.get(f"{url}/api/papers/{pid}", params={"field": "comments"}).json()["comments"] == []
    for client, body in ((ada, "First, with <script>alert(1)</script>"), (bob, "Second"), (ada, "Third, deleted")):
        assert client.post("/comments", data={"paper": pid, "body": body, "csrf": csrf(client, "/")}).status_code == 303
    first, second, third = sorted((c for c in store.community.thread(pid)), key=lambda c: c.id)
    reply = bob.post("/comments", data={"paper": pid, "body": "A reply", "parent": str(first.id),
                                        "csrf": csrf(bob, "/")})
    assert reply.status_code == 303
    ada.post(f"/comments/{third.id}/edit", data={"action": "delete", "csrf": csrf(ada, "/")})
    data = httpx.get(f"{url}/api/papers/{pid}", params={"field": "comments"}).json()
    assert [c["text"] for c in data["comments"]] == ["First, with <script>alert(1)</script>", "Second", "A reply"]
    assert data["numComments"] == imported + 3
    for c in data["comments"]:
        assert set(c) >= {"id", "author", "text", "createdAt"} and isinstance(c["id"], str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", c["createdAt"])
        assert c["author"] == {"user": c["author"]["user"], "fullname": c["author"]["user"], "avatarUrl": ""}
    assert [c["author"]["user"] for c in data["comments"]] == ["ada", "bob", "bob"]
    assert data["comments"][2]["parentId"] == str(first.id) and data["comments"][0]["parentId"] is None
    assert abs(datetime.fromisoformat(data["comments"][0]["createdAt"].replace("Z", "+00:00")).timestamp()
               - first.created_at) < 0.002
    # The real client: it reads a paper's comment count (numComments), which counts them.
    api = HfApi(endpoint=url, token=False)
    assert api.paper_info(pid).comments == imported + 3
    listed = {p.id: p for p in api.list_daily_papers(limit=100)}
    assert listed[pid].comments == imported + 3
    # And comments are never a list at the top level of a list item (the client would take it
    # for the count).
    assert all("comments" not in i for i in httpx.get(f"{url}/api/daily_papers", params={"limit": 100}).json())


def test_api_tokens_comment_and_upvote_as_the_site_does(site: tuple[str, Any], store: Store, settings: Settings,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    url, app = site
    ada = _browser(app, "ada@example.org")
    token = _token(ada, "my laptop")
    # Shown once: the account page lists it by name, never the token again.
    page = ada.get("/account").text
    assert "my laptop" in page and token not in page and "never used" in page
    # Only a hash is stored.
    with store.read() as conn:   # whichever store this runs on
        stored = conn.execute(select(schema.api_tokens.c.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0]

    item = httpx.get(f"{url}/api/daily_papers", params={"limit": 100}).json()[-1]
    pid, imported = item["paper"]["id"], item["paper"]["upvotes"]
    auth = {"authorization": f"Bearer {token}"}
    caplog.set_level(logging.DEBUG)
    r = httpx.post(f"{url}/api/papers/{pid}/comment", json={"comment": "Posted by my script"}, headers=auth)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["text"] == "Posted by my script" and made["author"]["user"] == "ada" and made["createdAt"].endswith("Z")
    reply = httpx.post(f"{url}/api/papers/{pid}/comment", json={"comment": "And a reply", "parentId": made["id"]},
                       headers=auth)
    assert reply.status_code == 201 and reply.json()["parentId"] == made["id"]
    assert [c.body for c in store.community.thread(pid)] == ["Posted by my script"]
    assert "Posted by my script" in TestClient(app).get(f"/papers/{pid}").text   # on the paper page, at once
    # Upvote: one per account, however often it is sent; the API's count follows at once.
    for _ in range(2):
        up = httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth)
        assert up.status_code == 200 and up.json() == {"id": pid, "upvoted": True, "upvotes": imported + 1}
    assert store.community.vote_count(pid) == 1
    assert HfApi(endpoint=url, token=False).paper_info(pid).upvotes == imported + 1
    assert "down/true" in _vote_button(ada.get(f"/papers/{pid}").text)  # the site sees the same vote
    down = httpx.delete(f"{url}/api/papers/{pid}/upvote", headers=auth)
    assert down.status_code == 200 and down.json()["upvoted"] is False and store.community.vote_count(pid) == 0
    assert "last used" in ada.get("/account").text
    # The same rate limit as the form: votes_per_minute is 6 here (3 made above).
    codes = [httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    assert "error" in httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth).json()
    # Bad bodies are a 400 that says why, and store nothing.
    for body in (b"not json", b"[1]", b'{"comment": 5}', b'{"comment": "   "}', b'{"comment": "x", "parentId": "abc"}',
                 b'{"comment": "x", "parentId": "999999"}'):
        bad = httpx.post(f"{url}/api/papers/{pid}/comment", content=body, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"], body
    assert len(store.community.thread(pid)) == 1
    assert token not in caplog.text


def _vote_button(html: str) -> str:
    m = re.search(r'name="action" value="(\w+)" aria-pressed="(\w+)"', html)
    return f"{m.group(1)}/{m.group(2)}" if m else ""


def test_writes_refuse_wrong_revoked_and_suspended_tokens_and_hidden_papers(site: tuple[str, Any],
                                                                            store: Store) -> None:
    url, app = site
    ada, mod = _browser(app, "ada@example.org"), _browser(app, "mod@example.org", "moderator")
    token = _token(ada)
    pid = httpx.get(f"{url}/api/daily_papers", params={"limit": 2}).json()[0]["paper"]["id"]
    wrong = [{}, {"authorization": "Bearer pt_" + "A" * 43}, {"authorization": f"Bearer {token}x"},
             {"authorization": "Bearer hf_SomeonesHuggingFaceToken"}, {"authorization": f"Basic {token}"},
             {"authorization": token}]
    for headers in wrong:
        for method, path in (("POST", "comment"), ("POST", "upvote"), ("DELETE", "upvote")):
            r = httpx.request(method, f"{url}/api/papers/{pid}/{path}", headers=headers, json={"comment": "hi"})
            assert r.status_code == 401 and "token" in r.json()["error"], (headers, path)
    # A signed-in browser session is not a token: the API writes need the Bearer header.
    assert ada.post(f"/api/papers/{pid}/upvote").status_code == 401
    assert store.community.vote_count(pid) == 0 and not store.community.thread(pid)
    auth = {"authorization": f"Bearer {token}"}
    # A hidden paper is not there, for writes too.
    _moderate(mod, "hide", "paper", pid)
    assert httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth).status_code == 404
    assert httpx.post(f"{url}/api/papers/{pid}/comment", headers=auth, json={"comment": "hi"}).status_code == 404
    _moderate(mod, "restore", "paper", pid)
    # A suspended account's token is refused.
    _moderate(mod, "suspend", "user", "ada")
    r = httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth)
    assert r.status_code == 403 and "suspended" in r.json()["error"]
    _moderate(mod, "unsuspend", "user", "ada")
    assert httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth).status_code == 200
    # Revoked on the account page: refused at its next use.
    token_id = store.api_tokens.of(store.accounts.by_email("ada@example.org").id)[0].id
    r = ada.post("/account/tokens", data={"action": "revoke", "token": str(token_id), "csrf": csrf(ada, "/account")})
    assert r.status_code == 303 and r.headers["location"] == "/account#api"
    assert httpx.post(f"{url}/api/papers/{pid}/upvote", headers=auth).status_code == 401
    # Another account cannot revoke (or see) someone's token; the forms need CSRF.
    bob = _browser(app, "bob@example.org")
    second = _token(ada)
    mine = store.api_tokens.of(store.accounts.by_email("ada@example.org").id)[0].id
    assert bob.post("/account/tokens", data={"action": "revoke", "token": str(mine),
                                             "csrf": csrf(bob, "/account")}).status_code == 400
    assert ada.post("/account/tokens", data={"action": "revoke", "token": str(mine)}).status_code == 403
    assert TestClient(app).post("/account/tokens", data={"action": "create"}, follow_redirects=False).status_code == 403
    other_auth = {"authorization": f"Bearer {second}"}
    assert httpx.post(f"{url}/api/papers/{pid}/upvote", headers=other_auth).status_code == 200
    # Public reads never look at the header: a revoked token reads as well as none.
    assert httpx.get(f"{url}/api/daily_papers", params={"limit": 3}, headers=auth).status_code == 200


def test_a_paper_submitted_here_names_its_account(store: Store, settings: Settings, shared: Path,
                                                  tmp_path: Path) -> None:
    with Replay(shared) as replay:
        remote = settings.replace(arxiv_api_url=replay.url + "/api/query", arxiv_min_interval=0.0,
                                  embed_on_import=False, base_url=BASE)
        ada = add_user(store, "Ada.Lovelace@example.org", "reader")
        client = PoliteClient(store, remote, "arxiv", 0.0, sleep=lambda s: None, max_wait=5.0, timeout=5.0)
        now = datetime(2022, 2, 24, 15, tzinfo=UTC) + timedelta(days=3)
        done = submit_paper(store, remote, ada, "2202.12139", now=now.timestamp(), client=client)
        client.close()
    assert done.new
    # A daily list that later names someone else does not take the submission from the account.
    other = tmp_path / "2022-02-27.json"   # (on PostgreSQL there is no database folder to put it in)
    other.write_text(json.dumps([{"paper": {
        "id": "2202.12139", "title": store.papers.get("2202.12139").title, "authors": [], "upvotes": 3,
        "publishedAt": "2022-02-24T15:00:00.000Z", "submittedOnDailyAt": "2022-02-27T20:00:00.000Z",
        "submittedOnDailyBy": {"user": "someone", "fullname": "Someone Else"}}, "numComments": 0}]))
    summary = import_paths(store, remote, [other])
    assert not summary.rejected and store.papers.get("2202.12139").submitter == "Someone Else"
    with served(create_app(remote, store)) as url:
        api = HfApi(endpoint=url, token=False)
        listed = list(api.list_daily_papers(date="2022-02-27"))
        assert [p.id for p in listed] == ["2202.12139"]
        assert listed[0].submitted_by is not None and listed[0].submitted_by.username == ada.name == "ada-lovelace"
        assert api.paper_info("2202.12139").submitted_by.username == ada.name
        for name in (ada.name, ada.name.upper(), "Ada-Lovelace"):
            assert [p.id for p in api.list_daily_papers(date="2022-02-27", submitter=name)] == ["2202.12139"], name
        assert list(api.list_daily_papers(date="2022-02-27", submitter="someone")) == []
