"""RSS 2.0 and Atom feeds, read as a feed reader reads them: feedparser parses each one with
``bozo`` 0, the entries are the page's papers, GUIDs stay the same, 304 when nothing changed,
and pages announce their feeds."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import feedparser
import pytest
from starlette.testclient import TestClient

from papertrend.ingest.importer import import_paths
from papertrend.models import Author, Paper
from papertrend.rank.recompute import recompute_trending
from papertrend.web.app import create_app
from papertrend.web.feeds import Feed, atom, rss

from web_helpers import csrf, sign_in

BASE = "http://papers.example"
HOSTILE = 'Feeds & <b>"quotes"</b> ]]> \x01\x08 control characters'


@pytest.fixture
def client(store, settings, shared: Path, tmp_path: Path) -> TestClient:
    settings = settings.replace(base_url=BASE)
    hostile = tmp_path / "2026-07-31.jsonl"
    hostile.write_text(json.dumps({"id": "2607.00002", "title": HOSTILE, "authors": ["Mallory <m@example.org>"],
                                   "summary": "An abstract </description> with ]]> in it.",
                                   "categories": ["cs.CR"]}) + "\n")
    import_paths(store, settings, [shared / "hf-daily" / f"2026-07-{d}.json" for d in ("27", "28", "29", "30", "31")]
                 + [hostile])
    recompute_trending(store, datetime(2026, 8, 1, tzinfo=UTC))
    return TestClient(create_app(settings, store))


def parsed(client: TestClient, path: str) -> feedparser.FeedParserDict:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    kind = "rss" if ".rss" in path else "atom"
    assert r.headers["content-type"].startswith(f"application/{kind}+xml")
    feed = feedparser.parse(r.content)
    assert feed.bozo == 0, (path, feed.get("bozo_exception"))
    assert feed.version == ("rss20" if kind == "rss" else "atom10")
    return feed


def ids(feed: feedparser.FeedParserDict) -> list[str]:
    out = []
    for entry in feed.entries:
        assert entry.id == entry.link and entry.id.startswith(f"{BASE}/papers/")  # the GUID is the paper's page
        out.append(entry.id.removeprefix(f"{BASE}/papers/"))
    return out


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_every_feed_parses_and_lists_what_its_page_lists(client: TestClient, fmt: str) -> None:
    for window in ("today", "week", "month"):
        page = client.get("/trending.json", params={"window": window}).json()["papers"]
        feed = parsed(client, f"/feeds/trending.{fmt}?window={window}")
        assert ids(feed) == [p["id"] for p in page] and page, window
        assert window in feed.feed.title
    for kind, path in [("daily", "/papers/date/2026-07-31.json"), ("weekly", "/papers/week/2026-W31.json"),
                       ("monthly", "/papers/month/2026-07.json")]:
        page = client.get(path).json()["papers"]
        assert ids(parsed(client, f"/feeds/{kind}.{fmt}")) == [p["id"] for p in page][:50], kind
    search = client.get("/search.json", params={"q": "world model", "sort": "date"}).json()["papers"]
    assert ids(parsed(client, f"/feeds/search.{fmt}?q=world+model")) == [p["id"] for p in search] and search
    category = parsed(client, f"/feeds/category/cs.CR.{fmt}")
    assert ids(category) == ["2607.00002"]
    cs_trending = client.get("/trending.json", params={"window": "month", "category": "cs.CR"}).json()["papers"]
    assert ids(parsed(client, f"/feeds/trending.{fmt}?window=month&category=cs.CR")) == [p["id"] for p in cs_trending]


def test_entries_carry_title_authors_summary_and_hostile_text_parses(client: TestClient) -> None:
    for fmt in ("rss", "atom"):
        feed = parsed(client, f"/feeds/daily.{fmt}")
        entry = next(e for e in feed.entries if e.id.endswith("/2607.28624"))
        assert entry.title == "PhiZero: A World Model Built Around Physical Language"
        assert "Shuyao Shang" in [a.get("name") for a in entry.authors] or "Shuyao Shang" in entry.get("author", "")
        listed = entry.published_parsed if fmt == "rss" else entry.updated_parsed  # Atom: published is arXiv's
        assert "145 upvotes" in entry.summary and listed[:3] == (2026, 7, 31)
        bad = next(e for e in feed.entries if e.id.endswith("/2607.00002"))
        assert bad.title == 'Feeds & <b>"quotes"</b> ]]> control characters'  # text, never markup
        # RSS readers take a description as HTML: it arrives escaped, and shows as written.
        shown = html.unescape(bad.summary) if fmt == "rss" else bad.summary
        assert "An abstract </description> with ]]> in it." in shown
        assert fmt == "atom" or "<" not in bad.summary


def test_text_xml_cannot_carry_is_dropped_wherever_it_comes_from() -> None:
    """The importer already drops control characters; the writer does too, so a paper stored
    by another path (an older release, a migration) cannot break every feed it is in."""
    paper = Paper(id="2607.00004", title="Bell\x07 and \ufffe", abstract="Form\x0cfeed",
                  authors=[Author("Null\x00 Byte")], categories=["cs.\x1bCR"], list_date="2026-07-31")
    feed = Feed("Tab\x0b", "Escape\x1b", "/", [paper], None)
    for body in (rss(feed, BASE, BASE + "/feeds/x.rss"), atom(feed, BASE, BASE + "/feeds/x.atom")):
        parsed_feed = feedparser.parse(body)
        assert parsed_feed.bozo == 0 and parsed_feed.entries[0].title.strip() == "Bell and"


def test_guids_are_stable_across_formats_and_changes(client: TestClient, shared: Path, store, settings) -> None:
    before = ids(parsed(client, "/feeds/weekly.rss"))
    assert before == ids(parsed(client, "/feeds/weekly.atom"))
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])  # a re-import changes nothing's id
    assert ids(parsed(client, "/feeds/weekly.rss")) == before


def test_etag_last_modified_and_304(client: TestClient, store, settings, tmp_path: Path) -> None:
    for path in ("/feeds/daily.rss", "/feeds/trending.atom?window=week", "/feeds/search.rss?q=diffusion"):
        first = client.get(path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert client.get(path, headers={"if-none-match": etag}).status_code == 304
        assert client.get(path, headers={"if-modified-since": modified}).status_code == 304
        earlier = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
        assert client.get(path, headers={"if-modified-since": earlier}).status_code == 200
        assert client.get(path, headers={"if-none-match": '"other"', "if-modified-since": modified}).status_code == 200
    daily = client.get("/feeds/daily.rss")
    newer = tmp_path / "2026-07-31-late.jsonl"
    newer.write_text(json.dumps({"id": "2607.00003", "title": "A late paper", "daily_date": "2026-07-31",
                                 "upvotes": 999, "submitter": "late"}) + "\n")
    import_paths(store, settings, [newer])
    client.app.state.data_version._at = 0.0  # the version is re-read at most once a second
    changed = client.get("/feeds/daily.rss", headers={"if-none-match": daily.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != daily.headers["etag"]
    assert "2607.00003" in changed.text


@pytest.mark.parametrize("path, status", [
    ("/feeds/trending.rss?window=year", 400), ("/feeds/search.atom", 400), ("/feeds/search.rss?q=" + "x" * 1001, 400),
    ("/feeds/category/%3Cscript%3E.rss", 400), ("/feeds/nothing.rss", 404), ("/feeds/daily.json", 404),
])
def test_bad_feed_requests_say_why(client: TestClient, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status and r.text.strip()


def test_pages_announce_their_feeds(client: TestClient) -> None:
    def alternates(html: str) -> list[str]:
        return re.findall(r'<link rel="alternate" type="application/(?:rss|atom)\+xml" title="[^"]+" href="([^"]+)"',
                          html)

    assert alternates(client.get("/").text) == ["/feeds/daily.rss", "/feeds/daily.atom"]
    assert alternates(client.get("/papers/week/2026-W31").text) == ["/feeds/weekly.rss", "/feeds/weekly.atom"]
    assert alternates(client.get("/papers/month/2026-07").text)[0] == "/feeds/monthly.rss"
    trending = alternates(client.get("/trending?window=month&category=cs.CR").text)
    assert trending == ["/feeds/trending.rss?window=month&amp;category=cs.CR",
                        "/feeds/trending.atom?window=month&amp;category=cs.CR",
                        "/feeds/category/cs.CR.rss", "/feeds/category/cs.CR.atom"]
    assert alternates(client.get("/search?q=world+model").text)[0] == "/feeds/search.rss?q=world+model"
    home = client.get("/").text
    assert re.search(r'<a href="/feeds/daily.rss"[^>]*>Prefer RSS\?</a>', home)
    assert alternates(client.get("/trending?category=%3Cscript%3E").text) == [
        "/feeds/trending.rss?window=week&amp;category=%3Cscript%3E",
        "/feeds/trending.atom?window=week&amp;category=%3Cscript%3E"]
    for href in alternates(home) + [h.replace("&amp;", "&") for h in trending]:
        assert client.get(href).status_code == 200, href


def _feed_address(client: TestClient) -> str | None:
    match = re.search(r'<code class="feed-address">(http://papers\.example/feeds/digest/[^<]+\.rss)</code>',
                      client.get("/account").text)
    return match.group(1).removeprefix(BASE) if match else None


def test_personal_digest_feed_at_a_secret_address_renewed_and_revoked(client: TestClient) -> None:
    sign_in(client, "reader@example.org")
    assert _feed_address(client) is None and "Make my feed address" in client.get("/account").text
    token = csrf(client, "/account")
    made = client.post("/account/feed", data={"action": "renew", "csrf": token}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/account#feed"
    address = _feed_address(client)
    assert address is not None and address == _feed_address(client)  # the page shows it again, unchanged
    everything = parsed(client, address)
    assert len(everything.entries) == 50 and everything.feed.title == "reader's digest"
    assert ids(parsed(client, address.replace(".rss", ".atom"))) == ids(everything)
    r = client.get(address)
    assert r.headers["cache-control"].startswith("private") and r.headers["referrer-policy"] == "no-referrer"
    assert client.get(address, headers={"if-none-match": r.headers["etag"]}).status_code == 304
    # The reader's digest topics choose the papers; a change of topics is a new ETag.
    client.post("/account/digest", data={"action": "subscribe", "frequency": "daily", "topics": "world model",
                                         "csrf": token})
    mine = parsed(client, address)
    assert 0 < len(mine.entries) < 50
    for paper in client.app.state.store.papers.get_many(ids(mine)).values():
        text = f"{paper.title} {paper.abstract}".lower()
        assert "world" in text and "model" in text, paper.title
    assert client.get(address, headers={"if-none-match": r.headers["etag"]}).status_code == 200
    # A new address: the old one is gone at once.
    client.post("/account/feed", data={"action": "renew", "csrf": token})
    renewed = _feed_address(client)
    assert renewed and renewed != address and client.get(address).status_code == 404
    assert parsed(client, renewed).entries
    # Turned off: gone, and the page offers to make one again.
    client.post("/account/feed", data={"action": "revoke", "csrf": token})
    assert client.get(renewed).status_code == 404 and _feed_address(client) is None


def test_personal_feed_addresses_cannot_be_guessed_or_forged(client: TestClient, store) -> None:
    user = sign_in(client, "victim@example.org")
    client.post("/account/feed", data={"action": "renew", "csrf": csrf(client, "/account")})
    address = _feed_address(client)
    assert address is not None
    secret = address.removeprefix("/feeds/digest/").removesuffix(".rss")
    forged = [f"{user.id}-{'0' * 40}", f"{user.id + 1}-{secret.split('-')[1]}", secret[:-1], secret.upper(),
              f"{user.id}", "../account", "x" * 500]
    other = TestClient(client.app)
    for guess in forged:
        r = other.get(f"/feeds/digest/{guess}.rss")
        assert r.status_code == 404 and "feed" in r.text, guess
    assert other.get(address).status_code == 200  # the address itself needs no session
    # Changing the feed needs the account and the CSRF token.
    assert other.post("/account/feed", data={"action": "revoke"}, follow_redirects=False).status_code == 403
    assert client.post("/account/feed", data={"action": "revoke"}).status_code == 403
    assert client.post("/account/feed", data={"action": "explode", "csrf": csrf(client, "/account")}).status_code == 400
    assert client.get(address).status_code == 200
    store.accounts.end_sessions(user.id)
