"""The app factory: ``create_app(settings)`` builds the Starlette application.

One handler serves each page as HTML and as JSON (``.json`` suffix or ``Accept:
application/json``), and one exception handler picks the HTML or JSON form of an error.

Handlers that touch the store, the search indexes or templates are plain ``def``: Starlette runs
them in its thread pool, so the event loop never waits for SQL or a search. (With ``async def``
every page waited behind each search: bench_web.py's mix at 32 clients gave the cached home page
a p50 of 120-140 ms, against 1.6 ms now.) What they share is safe across threads: the page
cache and DataVersion hold locks, the searcher is built once under a lock, the indexes swap or
append under their own, and each thread takes its own SQLite connection from the engine's pool.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..digest.pump import MailPump
from ..errors import BadRequest, PapertrendError, SignInRequired
from ..store import Store
from . import accounts, api, community, feeds, markdown, openapi, subscriptions, views
from .render import Renderer, wants_json
from .security import BodyLimit

HERE = Path(__file__).resolve().parent

# Paper text is untrusted: no inline script may run, whatever a title contains.
SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


# Searches at once per process (views.search_page). Two, because a search spends part of its
# time in SQLite, numpy and ONNX Runtime, outside the interpreter lock, which a second one can
# use; more would not finish sooner, and every runnable search thread makes cheap pages wait
# longer for the lock. (One against two on 2 busy cores, mix at 32 clients: 619 against 718
# req/s, both with other engineers' jobs running, so only a hint.)
SEARCH_THREADS = 2


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RefuseNul:
    """400 for an address whose path or query holds a NUL (``%00``): no paper, category, name or
    token has one, and PostgreSQL refuses to compare text with it (a 500 there, where SQLite just
    finds nothing). Forms are checked the same way in ``security.checked_form``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = unquote_plus(scope.get("query_string", b"").decode("latin-1"))
            if "\x00" in scope.get("path", "") or "\x00" in query:
                request = Request(scope, receive)
                error = BadRequest("The address contains a NUL character (%00); remove it and try again.")
                # Feeds answer their errors in plain text (web/feeds.py), as their description says.
                response = (Response(f"{error.message}\n", status_code=400, media_type="text/plain; charset=utf-8")
                            if request.url.path.startswith("/feeds/") else handle_error(request, error))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class DataVersion:
    """The store's data version, re-read at most once a second: the ETag's basis.

    One thread re-reads it; meanwhile the others use the value read before (already up to a
    second old by design) instead of each querying the store, or waiting: it counts the papers,
    which takes tens of milliseconds at a million. Only the very first read waits."""

    def __init__(self, store: Store, ttl: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self._value: str | None = None
        self._at = 0.0
        self._lock = threading.Lock()
        self._local = 0                      # changes made here since: see invalidate()
        self._lock_local = threading.Lock()

    def get(self) -> str:
        return f"{self._get()}.{self._local}"

    def _get(self) -> str:
        if self._value is not None and time.monotonic() - self._at <= self.ttl:
            return self._value
        if self._lock.acquire(blocking=self._value is None):
            try:
                if self._value is None or time.monotonic() - self._at > self.ttl:
                    self._value = self.store.papers.data_version()
                    self._at = time.monotonic()
            finally:
                self._lock.release()
        assert self._value is not None  # read above, or by the thread holding the lock before
        return self._value

    def invalidate(self) -> None:
        """A change made by this process (a vote, a comment): its pages show it at once, under a
        new version, without re-reading the store (other processes see it at their next read)."""
        with self._lock_local:
            self._local += 1

    def peek(self) -> str | None:
        """The version when it is fresh, else None; never reads the store (for the event loop)."""
        value = self._value
        return f"{value}.{self._local}" if value is not None and time.monotonic() - self._at <= self.ttl else None


def handle_error(request: Request, exc: Exception) -> Response:
    """The HTML or JSON form of an error (a plain ``def``: Starlette runs it in the thread pool,
    so rendering the page never holds up the event loop)."""
    if isinstance(exc, PapertrendError):
        status, message = exc.status_code, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail or "error"
        if status == 404:
            message = f"Nothing lives at {request.url.path}"
    else:  # pragma: no cover - a bug, shown without its details
        status, message = 500, "Something went wrong on our side."
    if isinstance(exc, SignInRequired) and not wants_json(request) and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    # A 405 names the methods the path allows (RFC 9110); the API's errors are always JSON.
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
    renderer: Renderer = request.app.state.renderer
    response = renderer.page(request, "error.html", {"status": status, "message": message}, status_code=status)
    response.headers.update(headers)
    return response


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    owned = store is None
    store = store or Store(settings)
    store.ensure_schema()
    routes = [
        Route("/", views.memory_first(views.home), name="home"),
        Route("/healthz", views.healthz, name="healthz"),
        Route("/favicon.ico", views.favicon, name="favicon"),
        Route("/authors/{author:path}", views.memory_first(views.author_page), name="author"),
        Route("/thumbnails/{file:str}", views.thumbnail, name="thumbnail"),
        Route("/jobs", views.jobs_page, name="jobs"),
        Route("/signin", accounts.signin_page, name="signin_form"),
        Route("/signin", accounts.signin_post, methods=["POST"], name="signin"),
        Route("/signin/link", accounts.signin_link, name="signin_link_form"),
        Route("/signin/link", accounts.signin_link_post, methods=["POST"], name="signin_link"),
        Route("/signout", accounts.signout, methods=["POST"], name="signout"),
        Route("/account", accounts.account_page, name="account"),
        Route("/account/digest", accounts.account_digest, methods=["POST"], name="account_digest"),
        Route("/account/feed", feeds.account_feed, methods=["POST"], name="account_feed"),
        Route("/account/tokens", accounts.account_tokens, methods=["POST"], name="account_tokens"),
        Route("/admin", accounts.admin_page, name="admin"),
        Route("/subscribe", subscriptions.subscribe_post, methods=["POST"], name="subscribe"),
        Route("/subscribe/confirm", subscriptions.confirm, methods=["GET", "POST"], name="confirm"),
        Route("/preferences", subscriptions.preferences, methods=["GET", "POST"], name="preferences"),
        Route("/unsubscribe", subscriptions.unsubscribe, methods=["GET", "POST"], name="unsubscribe"),
        Route("/outbox", subscriptions.outbox, name="outbox"),
        Route("/jobs.json", views.jobs_page, name="jobs_json"),
        Route("/search", views.search_page, name="search"),
        Route("/search.json", views.search_page, name="search_json"),
        Route("/trending", views.memory_first(views.trending_page), name="trending"),
        Route("/trending.json", views.memory_first(views.trending_page), name="trending_json"),
        Route("/vote", community.vote_post, methods=["POST"], name="vote"),
        Route("/save", community.save_post, methods=["POST"], name="save"),
        Route("/library", community.library_page, name="library"),
        Route("/library.json", community.library_page, name="library_json"),
        Route("/library.bib", community.library_page, name="library_bib"),
        Route("/submit", community.submit_page, name="submit_form"),
        Route("/submit", community.submit_post, methods=["POST"], name="submit"),
        Route("/comments", community.comment_post, methods=["POST"], name="comment"),
        Route("/comments/{comment_id:str}/edit", community.comment_edit_page, name="comment_edit_form"),
        Route("/comments/{comment_id:str}/edit", community.comment_edit_post, methods=["POST"], name="comment_edit"),
        Route("/report", community.report_post, methods=["POST"], name="report"),
        Route("/moderation", community.moderation_page, name="moderation"),
        Route("/moderation.json", community.moderation_page, name="moderation_json"),
        Route("/moderation", community.moderate_post, methods=["POST"], name="moderate"),
        Route("/admin/audit", community.audit_page, name="audit"),
        Route("/admin/audit.json", community.audit_page, name="audit_json"),
        Route("/u/{username:str}", community.profile_page, name="profile"),
        Route("/profile", community.profile_post, methods=["POST"], name="profile_settings"),
        Route("/papers/date", views.date_picker, name="date_picker"),
        Route("/papers/week", views.period_picker, name="week_picker"),
        Route("/papers/month", views.period_picker, name="month_picker"),
        # Before the paper pages: the API, feeds, OpenAPI, and a paper as Markdown (/papers/{id}.md).
        *api.ROUTES, *feeds.ROUTES, *openapi.ROUTES,
        Route("/papers/{paper_id:path}.md", markdown.markdown_page, name="paper_markdown"),
        Route("/papers/{kind:str}/{key:str}", markdown.negotiated(views.memory_first(views.period_page)),
              name="period"),
        Route("/papers/{paper_id:path}", markdown.negotiated(views.memory_first(views.paper_page)), name="paper"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    searcher = _lazy_searcher(settings, store)
    search_pool = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="papertrend-search")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        searcher().warm()  # indexes load in the background; the first searches use SQL meanwhile
        app.state.mail_pump.nudge()  # mail queued while no web process ran
        yield
        search_pool.shutdown(wait=False, cancel_futures=True)
        app.state.mail_pump.stop()
        app.state.trending_refresh.stop()
        if owned:
            store.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(BodyLimit, limit=settings.max_body_bytes), Middleware(SecurityHeaders),
                    Middleware(RefuseNul)],
        exception_handlers={PapertrendError: handle_error, HTTPException: handle_error, 500: handle_error},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.renderer = Renderer(settings, HERE / "templates", routes=routes)
    app.state.data_version = DataVersion(store)
    app.state.searcher = searcher
    app.state.search_pool = search_pool
    app.state.mail_pump = MailPump(store, settings)
    app.state.trending_refresh = community.TrendingRefresh(store, settings.trending_refresh_seconds,
                                                           app.state.data_version.invalidate)
    return app


def _lazy_searcher(settings: Settings, store: Store) -> Any:
    from ..search.hybrid import Searcher, build_searcher

    holder: list[Searcher] = []
    lock = threading.Lock()

    def get() -> Searcher:
        if not holder:
            with lock:  # two first requests in two threads must not build two searchers
                if not holder:
                    holder.append(build_searcher(settings, store))
        return holder[0]

    return get


