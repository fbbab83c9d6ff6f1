"""RSS 2.0 and Atom feeds of every list: trending (each window, optionally a category), the
latest day, week and month, a search, a category.

- A paper's GUID (RSS) and id (Atom) is its page's address, the same in every feed, so a reader
  never sees a paper it has shown as new again.
- ETag (the data version, path and query) and Last-Modified (the newest stored change to a
  listed paper, or the ranking's computation) answer 304 to a reader that has the feed.
- Paper text is untrusted: the XML writer escapes it, and characters XML 1.0 cannot carry
  (control characters in a title) are dropped, so every feed parses.
- ``links(...)`` names a page's feeds for ``<link rel="alternate">`` autodiscovery (base.html
  reads them from the ``feeds`` context variable).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..errors import BadRequest, NotFound, PapertrendError
from ..models import Paper, SearchFilters, User
from ..periods import Period
from ..store import Store, utcnow
from .api import utc_moment, visible
from .render import etag_for, excerpt
from .security import checked_form, require

FORMATS = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
LIST_KINDS = ("daily", "weekly", "monthly")
ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CATEGORY_DAYS = 30          # a category's feed: what was listed in the 30 days up to the newest list day
ET.register_namespace("atom", ATOM)
ET.register_namespace("dc", DC)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9.\-]{0,39}")


def _text(value: str | None) -> str:
    return _NOT_XML.sub("", value or "")


@dataclass
class Feed:
    title: str
    description: str
    page: str                 # the site page the feed follows (a path)
    papers: list[Paper]
    last_modified: datetime | None


def links(kind: str, **params: str) -> list[dict[str, str]]:
    """A page's feeds, RSS first, for ``<link rel="alternate">`` and the "prefer RSS?" link."""
    query = {k: v for k, v in params.items() if v}
    path = f"/feeds/{kind}"
    if kind == "category":
        category = query.pop("category", "")
        if not _CATEGORY.fullmatch(category):
            return []  # a category no feed can have (the page says why it found nothing)
        path = f"/feeds/category/{category}"
    suffix = f"?{urlencode(query)}" if query else ""
    label = {"daily": "Daily papers", "weekly": "Weekly papers", "monthly": "Monthly papers",
             "trending": "Trending papers", "search": "Search", "category": "Category"}[kind]
    return [{"type": FORMATS[fmt].split(";")[0], "title": f"{label} ({fmt.upper()})", "href": f"{path}.{fmt}{suffix}"}
            for fmt in ("rss", "atom")]


# -- what each feed lists -----------------------------------------------------------------------

def _newest(store: Store, papers: list[Paper], *more: str | None) -> datetime | None:
    stamps = [utc_moment(store.papers.last_changed_of([p.id for p in papers]) if papers else None),
              *(utc_moment(m) for m in more)]
    known = [s for s in stamps if s is not None]
    return max(known).replace(microsecond=0) if known else None


def _list_feed(request: Request, kind: str) -> Feed:
    store: Store = request.app.state.store
    latest = store.papers.latest_list_date()
    day = date.fromisoformat(latest) if latest else datetime.now(UTC).date()
    if kind == "daily":
        start, end, title = day, day, f"Daily papers, {day:%d %B %Y}"
        page = f"/papers/date/{day}"
    elif kind == "weekly":
        start = day - timedelta(days=day.weekday())
        end, iso = start + timedelta(days=6), day.isocalendar()
        title, page = f"Weekly papers, {iso.year}-W{iso.week:02d}", f"/papers/week/{iso.year}-W{iso.week:02d}"
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        title, page = f"Monthly papers, {day:%B %Y}", f"/papers/month/{day:%Y-%m}"
    papers = visible(store, store.papers.in_range(start.isoformat(), end.isoformat(),
                                                  limit=request.app.state.settings.page_size))
    return Feed(title, f"The most upvoted papers listed {start} to {end}", page, papers, _newest(store, papers))


def _trending_feed(request: Request) -> Feed:
    from ..rank.trending import WINDOWS

    store: Store = request.app.state.store
    window = request.query_params.get("window", "week")
    if window not in WINDOWS:
        raise BadRequest(f"window {window[:20]!r} is not one of: {', '.join(WINDOWS)}")
    category = _category(request.query_params.get("category", "").strip()) or None
    ranked = store.trending.page(window, category, limit=request.app.state.settings.page_size)
    papers = visible(store, [p for p, _ in ranked])
    computed = max((row.computed_at for _, row in ranked), default=None)
    where = f" in {category}" if category else ""
    query = urlencode({k: v for k, v in (("window", window), ("category", category or "")) if v})
    return Feed(f"Trending papers{where}, {window}", f"What is trending{where} over the {window} window, and why",
                f"/trending?{query}", papers, _newest(store, papers, computed))


def _category(value: str) -> str:
    if value and not _CATEGORY.fullmatch(value):
        raise BadRequest(f"category {value[:40]!r} is not a category name like cs.LG")
    return value


def _category_feed(request: Request) -> Feed:
    store: Store = request.app.state.store
    category = _category(request.path_params["category"])
    latest = store.papers.latest_list_date()
    end = date.fromisoformat(latest) if latest else datetime.now(UTC).date()
    start = end - timedelta(days=CATEGORY_DAYS - 1)
    papers = visible(store, store.papers.in_range(start.isoformat(), end.isoformat(), sort="published",
                                                  limit=request.app.state.settings.page_size, category=category))
    return Feed(f"Newest papers in {category}", f"Papers in {category} listed {start} to {end}, newest first",
                f"/search?{urlencode({'q': '*', 'category': category})}", papers, _newest(store, papers))


def _search_feed(request: Request) -> Feed:
    q = request.query_params.get("q", "").strip()
    if not q:
        raise BadRequest("q: a search feed needs a query, e.g. /feeds/search.rss?q=diffusion")
    if len(q) > 1000:
        raise BadRequest("q: a query is at most 1000 characters")
    results = request.app.state.searcher().search(q, SearchFilters(), "date", "hybrid", limit=30)
    store: Store = request.app.state.store
    papers = visible(store, [h.paper for h in results.hits])
    return Feed(f"Search: {q}", f"Papers matching {q}, newest first", f"/search?{urlencode({'q': q})}", papers,
                _newest(store, papers))


# -- writing --------------------------------------------------------------------------------------

def _rfc822(day: str | None) -> str | None:
    try:
        return format_datetime(datetime.fromisoformat(day).replace(tzinfo=UTC), usegmt=True) if day else None
    except ValueError:
        return None


def _rfc3339(day: str | None, fallback: datetime) -> str:
    try:
        moment = datetime.fromisoformat(day).replace(tzinfo=UTC) if day else fallback
    except ValueError:
        moment = fallback
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = _text(text)
    return element


def rss(feed: Feed, base: str, self_url: str) -> bytes:
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", feed.title)
    _sub(channel, "link", base + feed.page)
    _sub(channel, "description", feed.description)
    _sub(channel, f"{{{ATOM}}}link", href=self_url, rel="self", type=FORMATS["rss"].split(";")[0])
    if feed.last_modified:
        _sub(channel, "lastBuildDate", format_datetime(feed.last_modified, usegmt=True))
    for paper in feed.papers:
        url = f"{base}/papers/{paper.id}"
        item = _sub(channel, "item")
        _sub(item, "title", paper.title)
        _sub(item, "link", url)
        _sub(item, "guid", url, isPermaLink="true")
        # Readers take an RSS description as HTML: escaped, the text shows as written.
        _sub(item, "description", html.escape(_summary(paper), quote=False))
        for author in paper.authors:
            _sub(item, f"{{{DC}}}creator", author.name)
        for category in paper.categories:
            _sub(item, "category", category)
        if (when := _rfc822(paper.list_date or paper.published)) is not None:
            _sub(item, "pubDate", when)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def atom(feed: Feed, base: str, self_url: str) -> bytes:
    root = ET.Element(f"{{{ATOM}}}feed")
    epoch = feed.last_modified or datetime(1970, 1, 1, tzinfo=UTC)
    _sub(root, f"{{{ATOM}}}id", self_url)
    _sub(root, f"{{{ATOM}}}title", feed.title)
    _sub(root, f"{{{ATOM}}}subtitle", feed.description)
    _sub(root, f"{{{ATOM}}}updated", epoch.strftime("%Y-%m-%dT%H:%M:%SZ"))
    _sub(root, f"{{{ATOM}}}link", href=self_url, rel="self")
    _sub(root, f"{{{ATOM}}}link", href=base + feed.page, rel="alternate", type="text/html")
    _sub(_sub(root, f"{{{ATOM}}}author"), f"{{{ATOM}}}name", "papertrend")
    for paper in feed.papers:
        url = f"{base}/papers/{paper.id}"
        entry = _sub(root, f"{{{ATOM}}}entry")
        _sub(entry, f"{{{ATOM}}}id", url)
        _sub(entry, f"{{{ATOM}}}title", paper.title)
        _sub(entry, f"{{{ATOM}}}link", href=url, rel="alternate", type="text/html")
        _sub(entry, f"{{{ATOM}}}updated", _rfc3339(paper.list_date or paper.published, epoch))
        if paper.published:
            _sub(entry, f"{{{ATOM}}}published", _rfc3339(paper.published, epoch))
        for author in paper.authors:
            _sub(_sub(entry, f"{{{ATOM}}}author"), f"{{{ATOM}}}name", author.name)
        for category in paper.categories:
            _sub(entry, f"{{{ATOM}}}category", term=_text(category))
        _sub(entry, f"{{{ATOM}}}summary", _summary(paper), type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _summary(paper: Paper) -> str:
    facts = f"{paper.upvotes} upvotes · {paper.num_comments} comments"
    return f"{excerpt(paper.abstract, 600)}\n\n{facts}" if paper.abstract else facts


# -- serving --------------------------------------------------------------------------------------

class FeedCache:
    """Feeds built under an ETag (the data version is in it), so a poll costs a dict lookup."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[bytes, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, datetime | None] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: str, value: tuple[bytes, datetime | None]) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _cache(request: Request) -> FeedCache:
    state = request.app.state
    if not hasattr(state, "feed_cache"):
        state.feed_cache = FeedCache(256 if state.settings.page_cache else 0)
    cache: FeedCache = state.feed_cache
    return cache


def _answer(request: Request, fmt: str, etag: str, body: bytes, modified: datetime | None) -> Response:
    headers = {"etag": etag, "cache-control": "public, max-age=300"}
    if modified is not None:
        headers["last-modified"] = format_datetime(modified, usegmt=True)
    sent_tag = request.headers.get("if-none-match")
    if sent_tag is not None:
        fresh = etag in sent_tag or sent_tag.strip() == "*"
    else:
        fresh = _not_modified_since(request.headers.get("if-modified-since"), modified)
    if fresh:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=FORMATS[fmt], headers=headers)


def _not_modified_since(header: str | None, modified: datetime | None) -> bool:
    if not header or modified is None:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified <= since


def _build(request: Request, fmt: str, etag: str, make: Callable[[Request], Feed]) -> Response:
    feed = make(request)
    base = request.app.state.settings.base_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    self_url = base + request.url.path + query
    body = (rss if fmt == "rss" else atom)(feed, base, self_url)
    _cache(request).put(etag, (body, feed.last_modified))
    return _answer(request, fmt, etag, body, feed.last_modified)


def _endpoint(make_for: Callable[[Request], Callable[[Request], Feed]], searches: bool = False) -> Any:
    async def endpoint(request: Request) -> Response:
        fmt = request.path_params["fmt"]
        try:
            if fmt not in FORMATS:
                raise NotFound(f"Feeds come as .rss or .atom, not .{fmt[:10]}")
            make = make_for(request)
            version = request.app.state.data_version.peek()
            if version is not None:
                etag = etag_for(request, fmt, version=version)
                if (hit := _cache(request).get(etag)) is not None:
                    return _answer(request, fmt, etag, *hit)
            if searches:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(request.app.state.search_pool, _fresh, request, fmt, make)
            return await run_in_threadpool(_fresh, request, fmt, make)
        except PapertrendError as exc:
            return Response(f"{exc.message}\n", status_code=exc.status_code, media_type="text/plain; charset=utf-8")

    return endpoint


def _fresh(request: Request, fmt: str, make: Callable[[Request], Feed]) -> Response:
    etag = etag_for(request, fmt)
    if (hit := _cache(request).get(etag)) is not None:
        return _answer(request, fmt, etag, *hit)
    return _build(request, fmt, etag, make)


def _list_maker(request: Request) -> Callable[[Request], Feed]:
    kind = request.path_params["kind"]
    if kind not in LIST_KINDS:
        raise NotFound(f"No feed named {kind[:40]!r}: daily, weekly, monthly, trending, search or category/NAME")
    return lambda r: _list_feed(r, kind)


# -- a reader's own feed: their digest, at a secret address ---------------------------------------
#
# The address is /feeds/digest/{user id}-{HMAC of the account's nonce}.{rss,atom}: the database
# alone cannot make it (the server's secret key signs it), the account page shows it again at
# any time, and a new nonce (or none) makes the old address answer 404.

PERSONAL_DAYS = 7   # the digest's papers of the last week of lists: a reader that polls weekly misses none
_PERSONAL = re.compile(r"([0-9]{1,12})-([0-9a-f]{40})")


def _signature(settings: Any, user_id: int, nonce: str) -> str:
    key = str(settings.secret_key).encode()
    return hmac.new(key, f"personal-feed:{user_id}:{nonce}".encode(), hashlib.sha256).hexdigest()[:40]


def personal_links(request: Request, user: User) -> dict[str, str] | None:
    """The account's feed addresses (absolute, for pasting into a reader), or None."""
    found = request.app.state.store.feed_secrets.get(user.id)
    if found is None:
        return None
    nonce, created = found
    base = request.app.state.settings.base_url.rstrip("/")
    secret = f"{user.id}-{_signature(request.app.state.settings, user.id, nonce)}"
    return {"rss": f"{base}/feeds/digest/{secret}.rss", "atom": f"{base}/feeds/digest/{secret}.atom",
            "created": created}


def _owner(request: Request) -> tuple[User, str]:
    """The account a secret address belongs to, and its nonce; 404 for any other address."""
    store: Store = request.app.state.store
    match = _PERSONAL.fullmatch(request.path_params["secret"])
    found = store.feed_secrets.get(int(match.group(1))) if match else None
    user = store.accounts.get(int(match.group(1))) if match and found else None
    if (match is None or found is None or user is None or user.status != "active"
            or not hmac.compare_digest(match.group(2), _signature(request.app.state.settings, user.id, found[0]))):
        raise NotFound("No feed lives at this address (it may have been turned off or renewed).")
    return user, found[0]


def _digest_feed(request: Request, user: User) -> Feed:
    """The papers the reader's digest picks (their topics, authors and categories; everything
    when they have none or no digest) from the last week of lists, best first."""
    from ..digest import compose
    from ..digest.build import ranked_papers

    store: Store = request.app.state.store
    subscriber = store.digests.by_email(user.email)
    latest = store.papers.latest_list_date()
    end = date.fromisoformat(latest) if latest else datetime.now(UTC).date()
    start = end - timedelta(days=PERSONAL_DAYS - 1)
    period = Period("range", f"{start}..{end}", start, end)
    interests = compose.Interests.of(subscriber) if subscriber and subscriber.status == "confirmed" else None
    ranked = ranked_papers(store, period)  # the digest's own ranking, the one /trending uses
    chosen = [p for p in ranked if interests is None or compose.matches(compose.Candidate.of(p), interests)]
    papers = visible(store, chosen)[:request.app.state.settings.page_size]
    what = ", ".join((subscriber.topics + subscriber.authors + subscriber.categories)
                     if interests is not None and subscriber is not None else []) or "everything"
    return Feed(f"{user.name}'s digest", f"Papers listed {start} to {end} for: {what}", "/account", papers,
                _newest(store, papers))


def _personal(request: Request) -> Response:
    user, nonce = _owner(request)
    fmt = request.path_params["fmt"]
    subscriber = request.app.state.store.digests.by_email(user.email)
    # The reader's interests are part of what the feed says: a change to them is a new ETag.
    prefs = (subscriber.status, subscriber.topics, subscriber.authors, subscriber.categories) if subscriber else None
    etag = etag_for(request, fmt, nonce, prefs)
    feed = _digest_feed(request, user)
    base = request.app.state.settings.base_url.rstrip("/")
    body = (rss if fmt == "rss" else atom)(feed, base, base + request.url.path)
    response = _answer(request, fmt, etag, body, feed.last_modified)
    # A secret address: never kept by a shared cache, never sent on as a referrer.
    response.headers.update({"cache-control": "private, max-age=300", "referrer-policy": "no-referrer",
                             "x-robots-tag": "noindex"})
    return response


async def personal_feed(request: Request) -> Response:
    try:
        if request.path_params["fmt"] not in FORMATS:
            raise NotFound("Feeds come as .rss or .atom")
        return await run_in_threadpool(_personal, request)
    except PapertrendError as exc:
        return Response(f"{exc.message}\n", status_code=exc.status_code, media_type="text/plain; charset=utf-8",
                        headers={"referrer-policy": "no-referrer"})


async def account_feed(request: Request) -> Response:
    """The account page's feed buttons: make (or renew) the secret address, or turn it off."""
    form = await checked_form(request)
    return await run_in_threadpool(_account_feed, request, str(form.get("action", "")))


def _account_feed(request: Request, action: str) -> Response:
    user = require(request)
    store: Store = request.app.state.store
    if action == "renew":
        store.feed_secrets.renew(user.id, secrets.token_hex(32), utcnow())
    elif action == "revoke":
        store.feed_secrets.revoke(user.id)
    else:
        raise BadRequest("action must be renew or revoke")
    return RedirectResponse("/account#feed", status_code=303)


ROUTES = [
    Route("/feeds/digest/{secret:str}.{fmt:str}", personal_feed, name="feed_personal"),
    Route("/feeds/trending.{fmt:str}", _endpoint(lambda r: _trending_feed), name="feed_trending"),
    Route("/feeds/search.{fmt:str}", _endpoint(lambda r: _search_feed, searches=True), name="feed_search"),
    Route("/feeds/category/{category:str}.{fmt:str}", _endpoint(lambda r: _category_feed), name="feed_category"),
    Route("/feeds/{kind:str}.{fmt:str}", _endpoint(_list_maker), name="feed_list"),
]
