"""Templates and the response helpers every view uses: HTML or JSON from one handler, ETags,
and the page cache."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, NoMatchFound

from ..config import Settings
from ..mathtext import plain
from ..models import Author, Paper
from . import latex
from .security import (CSRF_FIELD, CSRF_PLACEHOLDER, NAV_PLACEHOLDER, personalise, set_visitor_cookies,
                       visitor_etag)


def short_authors(authors: list[Author], limit: int = 4) -> str:
    names = [a.name for a in authors]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit - 1]) + f", … {names[-1]} (+{len(names) - limit + 1})"


def excerpt(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 comment``, ``2 comments`` (``many`` when adding an s is wrong)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def compact_number(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1_000:
        return f"{n / 1000:.1f}k"
    return str(n)


def bibtex(paper: Paper) -> str:
    """A BibTeX entry; braces and backslashes from the paper are neutralised."""
    def clean(value: str) -> str:
        return value.replace("\\", "").replace("{", "").replace("}", "")

    year = (paper.published or paper.list_date or "")[:4]
    first = clean(paper.authors[0].name.split()[-1]) if paper.authors else "anon"
    key = "".join(c for c in f"{first}{year}{paper.title.split()[0] if paper.title else ''}" if c.isalnum()).lower()
    fields = [("title", "{" + clean(paper.title) + "}"), ("author", " and ".join(clean(a.name) for a in paper.authors)),
              ("year", year)]
    if paper.is_arxiv:
        fields += [("eprint", paper.id), ("archivePrefix", "arXiv")]
        if paper.categories:
            fields.append(("primaryClass", paper.categories[0]))
    if paper.doi:
        fields.append(("doi", clean(paper.doi)))
    if paper.journal_ref:
        fields.append(("journal", clean(paper.journal_ref)))
    if paper.abs_url:
        fields.append(("url", paper.abs_url))
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
    kind = "article" if paper.journal_ref else "misc"
    return f"@{kind}{{{key},\n{body}\n}}"


def when(epoch: float | None) -> str:
    """Epoch seconds as a UTC time a reader can read (comments, the audit log)."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


class Paths:
    """``url_for`` for templates: site-relative paths (correct behind any proxy or host name).

    Starlette's ``url_path_for`` tries every route in turn and raises inside each that does not
    match; a page asks for ~40 links, so the route is looked up by name here."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes: dict[str, BaseRoute] = {}
        for route in routes:
            name = getattr(route, "name", None)
            if name and name not in self.routes:
                self.routes[name] = route

    def __call__(self, name: str, **params: Any) -> str:
        route = self.routes.get(name)
        if route is None:
            raise NoMatchFound(name, params)
        return str(route.url_path_for(name, **params))


class Renderer:
    """Renders templates and JSON. Shared by every request thread: Jinja's environment is
    thread-safe, and the page cache is guarded by a lock."""

    def __init__(self, settings: Settings, templates: Path, cache_size: int = 512,
                 routes: Sequence[BaseRoute] = ()) -> None:
        self.settings = settings
        self.env = Environment(loader=FileSystemLoader(templates), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(latex=latex.render, latex_linked=latex.render_linked, plain=plain,
                                short_authors=short_authors, excerpt=excerpt, compact=compact_number,
                                plural=plural, datetime=when)
        self.env.globals.update(site_name=settings.site_name, url_for=Paths(routes), list_view=list_view,
                                csrf_input=Markup(f'<input type="hidden" name="{CSRF_FIELD}" '
                                                  f'value="{CSRF_PLACEHOLDER}">'),
                                account_nav=Markup(NAV_PLACEHOLDER))
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_size = cache_size if settings.page_cache else 0

    def __len__(self) -> int:
        """Pages held in the page cache."""
        return len(self._cache)

    def page(self, request: Request, template: str, context: dict[str, Any], status_code: int = 200,
             headers: dict[str, str] | None = None) -> HTMLResponse:
        """An uncached HTML page, made this visitor's (CSRF token, account menu, cookie)."""
        html = self.env.get_template(template).render(request=request, **context).encode()
        response = HTMLResponse(personalise(request, html), status_code=status_code, headers=headers)
        set_visitor_cookies(request, response)
        return response

    def private_page(self, request: Request, template: str, context: dict[str, Any],
                     status_code: int = 200) -> HTMLResponse:
        """A page about one person (a mailed link's subscription, an account): never stored by
        a cache, and its URL (which may hold a token) never sent to another site as a referrer."""
        return self.page(request, template, context, status_code=status_code,
                         headers={"cache-control": "no-store", "referrer-policy": "same-origin"})

    def cached(self, request: Request, etag: str, as_json: bool) -> Response | None:
        """The response when it can be answered without the database: 304 (with or without the
        page cache), or a body from the page cache."""
        sent_etag = etag if as_json else visitor_etag(request, etag)
        if sent_etag in (request.headers.get("if-none-match") or ""):
            return self._send(request, etag, None, as_json)
        return self.remembered(request, etag, as_json) if self.cache_size else None

    def remembered(self, request: Request, etag: str, as_json: bool) -> Response | None:
        """The page from the page cache, or 304 when the client has it; None when the page was
        not rendered under this ETag (which also means nothing is known about the URL yet)."""
        key = f"{etag}|{as_json}"
        with self._lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
        if body is None:
            return None
        return self._send(request, etag, body, as_json)

    def respond(self, request: Request, etag: str, template: str, context: dict[str, Any],
                data: Callable[[], Any], as_json: bool) -> Response:
        """Render the page as HTML, or ``data()`` as JSON (built only when asked for), remember
        it under its ETag when the page cache is on, and send it."""
        if as_json:
            body = json.dumps(data(), ensure_ascii=False).encode()
        else:
            body = self.env.get_template(template).render(request=request, **context).encode()
        if self.cache_size:
            with self._lock:
                self._cache[f"{etag}|{as_json}"] = body
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return self._send(request, etag, body, as_json)

    def _send(self, request: Request, etag: str, body: bytes | None, as_json: bool) -> Response:
        """The page (or 304 when ``body`` is None or the client has it). JSON is the same for
        everyone; an HTML page carries this visitor's CSRF token and account menu, spliced into
        the shared cached body, under an ETag of its own and never in a shared cache."""
        if as_json:
            headers = {"etag": etag, "cache-control": "public, max-age=60", "vary": "Accept"}
            if body is None or etag in (request.headers.get("if-none-match") or ""):
                return Response(status_code=304, headers=headers)
            return Response(body, media_type=_media(True), headers=headers)
        own = visitor_etag(request, etag)
        # no-cache: the browser asks again each time (a 304 when nothing changed), so an upvote,
        # a comment or a moderator's hiding shows on the next page view, not a minute later.
        headers = {"etag": own, "cache-control": "private, no-cache", "vary": "Accept, Cookie"}
        if body is None or own in (request.headers.get("if-none-match") or ""):
            response = Response(status_code=304, headers=headers)
        else:
            response = Response(personalise(request, body), media_type=_media(False), headers=headers)
        set_visitor_cookies(request, response)
        remember_view(request, response)
        return response


def _media(as_json: bool) -> str:
    return "application/json" if as_json else "text/html; charset=utf-8"


def wants_json(request: Request) -> bool:
    if request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


VIEW_COOKIE = "papertrend_view"
LIST_VIEWS = ("full", "compact")


def list_view(request: Request) -> str:
    """How lists show their papers: "full" (abstracts, thumbnails) or "compact" (titles only).
    A ``?view=`` link chooses, and a cookie remembers the choice (``remember_view``), so a reader
    who prefers titles gets them on every list without carrying the parameter along."""
    asked = request.query_params.get("view")
    if asked in LIST_VIEWS:
        return asked
    return "compact" if request.cookies.get(VIEW_COOKIE) == "compact" else "full"


def remember_view(request: Request, response: Response) -> None:
    asked = request.query_params.get("view")
    if asked in LIST_VIEWS and request.cookies.get(VIEW_COOKIE, "full") != asked:
        response.set_cookie(VIEW_COOKIE, asked, max_age=365 * 86400, httponly=True, samesite="lax",
                            secure=request.app.state.settings.base_url.startswith("https:"))


def etag_for(request: Request, *parts: Any, version: str | None = None) -> str:
    """The page's ETag: the data version, path, query, the list view and ``parts``; the version
    is read from the store (at most once a second) unless given."""
    version = version if version is not None else request.app.state.data_version.get()
    raw = "|".join([version, str(request.url.path), str(request.url.query), list_view(request),
                    *map(str, parts)])
    return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'
