"""The app factory: ``create_app(settings)`` builds the Starlette application.

One handler serves each page as HTML and as JSON (``.json`` suffix or ``Accept:
application/json``), and one exception handler picks the HTML or JSON form of an error.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..digest.pump import MailPump
from ..errors import PapertrendError
from ..store import Store
from . import subscriptions, views
from .render import Renderer, wants_json

HERE = Path(__file__).resolve().parent

# Paper text is untrusted: no inline script may run, whatever a title contains.
SECURITY_HEADERS = {
    "content-security-policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


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


class DataVersion:
    """The store's data version, re-read at most once a second: the ETag's basis."""

    def __init__(self, store: Store, ttl: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self._value = ""
        self._at = 0.0

    def get(self) -> str:
        now = time.monotonic()
        if now - self._at > self.ttl:
            self._value = self.store.papers.data_version()
            self._at = now
        return self._value


async def handle_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, PapertrendError):
        status, message = exc.status_code, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, exc.detail or "error"
        if status == 404:
            message = f"Nothing lives at {request.url.path}"
    else:  # pragma: no cover - a bug, shown without its details
        status, message = 500, "Something went wrong on our side."
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    renderer: Renderer = request.app.state.renderer
    return renderer.page(request, "error.html", {"status": status, "message": message}, status_code=status)


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    store = store or Store(settings)
    store.ensure_schema()
    routes = [
        Route("/", views.home, name="home"),
        Route("/healthz", views.healthz, name="healthz"),
        Route("/jobs", views.jobs_page, name="jobs"),
        Route("/subscribe", subscriptions.subscribe_post, methods=["POST"], name="subscribe"),
        Route("/subscribe/confirm", subscriptions.confirm, methods=["GET", "POST"], name="confirm"),
        Route("/preferences", subscriptions.preferences, methods=["GET", "POST"], name="preferences"),
        Route("/unsubscribe", subscriptions.unsubscribe, methods=["GET", "POST"], name="unsubscribe"),
        Route("/outbox", subscriptions.outbox, name="outbox"),
        Route("/jobs.json", views.jobs_page, name="jobs_json"),
        Route("/search", views.search_page, name="search"),
        Route("/search.json", views.search_page, name="search_json"),
        Route("/trending", views.trending_page, name="trending"),
        Route("/trending.json", views.trending_page, name="trending_json"),
        Route("/papers/date", views.date_picker, name="date_picker"),
        Route("/papers/{kind:str}/{key:str}", views.period_page, name="period"),
        Route("/papers/{paper_id:path}", views.paper_page, name="paper"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    searcher = _lazy_searcher(settings, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        searcher().warm()  # indexes load in the background; the first searches use SQL meanwhile
        app.state.mail_pump.nudge()  # mail queued while no web process ran
        yield
        app.state.mail_pump.stop()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={PapertrendError: handle_error, HTTPException: handle_error, 500: handle_error},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.renderer = Renderer(settings, HERE / "templates")
    app.state.data_version = DataVersion(store)
    app.state.searcher = searcher
    app.state.mail_pump = MailPump(store, settings)
    return app


def _lazy_searcher(settings: Settings, store: Store) -> Any:
    from ..search.hybrid import Searcher, build_searcher

    holder: list[Searcher] = []

    def get() -> Searcher:
        if not holder:
            holder.append(build_searcher(settings, store))
        return holder[0]

    return get
