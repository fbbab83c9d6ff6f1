"""Account pages: sign in by emailed link, sign out, the account page (with the reader's digest),
and the operator's admin page. Every POST goes through ``security.checked_form``.

Forms are awaited on the event loop; the store work runs in the thread pool
(``run_in_threadpool``), like every other page, so a slow database never holds up the loop.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..accounts import signin, tokens
from ..accounts.sessions import SESSION_DAYS, session_value
from ..digest import subscribe as sub
from ..errors import BadRequest
from ..models import Subscriber, User
from ..store import utcnow
from .feeds import personal_links
from .render import Renderer
from .security import checked_form, client_address, require, set_session


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.renderer
    return renderer.private_page(request, template, context, status)


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 500:
        return value
    return "/account"


def signin_page(request: Request) -> Response:
    return _page(request, "signin.html", {"next": _safe_next(request.query_params.get("next"))})


async def signin_post(request: Request) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_signin_post, request, form)


def _signin_post(request: Request, form: FormData) -> Response:
    store, settings = request.app.state.store, request.app.state.settings
    if signin.request_link(store, settings, str(form.get("email", "")), client_address(request),
                           next_path=_safe_next(str(form.get("next", "")))):
        request.app.state.mail_pump.nudge()
    # The same page whether the address has an account, is new, or was asked for too often.
    return _page(request, "signin_sent.html", {"local": not settings.smtp_host})


def signin_link(request: Request) -> Response:
    """Mail scanners follow links: the GET only shows a button; the POST signs in."""
    token = request.query_params.get("token", "")[:100]
    return _page(request, "signin_link.html", {"token": token, "next": _safe_next(request.query_params.get("next"))})


async def signin_link_post(request: Request) -> Response:
    form = await checked_form(request)
    user = await run_in_threadpool(signin.redeem, request.app.state.store, str(form.get("token", "")))
    response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
    set_session(request, response, session_value(request.app.state.settings, user), SESSION_DAYS * 86400)
    return response


async def signout(request: Request) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_signout, request, form)


def _signout(request: Request, form: FormData) -> Response:
    user = require(request)
    if form.get("everywhere"):
        request.app.state.store.accounts.end_sessions(user.id)
    response = RedirectResponse("/", status_code=303)
    set_session(request, response, None, 0)
    return response


def _subscription(request: Request, user: User) -> Subscriber | None:
    found: Subscriber | None = request.app.state.store.digests.by_email(user.email)
    return found


def _account(request: Request, user: User, **extra: Any) -> Response:
    """The account page (never cached: it is only this reader's), with ``extra`` notices."""
    context = {"user": user, "s": _subscription(request, user), "saved": False, "feed": personal_links(request, user),
               "tokens": request.app.state.store.api_tokens.of(user.id), "new_token": None, **extra}
    return _page(request, "account.html", context)


def account_page(request: Request) -> Response:
    return _account(request, require(request))


async def account_tokens(request: Request) -> Response:
    """Make a personal API token (shown once, on the page this answers with, never in a URL)
    or revoke one."""
    form = await checked_form(request)
    return await run_in_threadpool(_account_tokens, request, form)


def _account_tokens(request: Request, form: FormData) -> Response:
    user = require(request)
    store = request.app.state.store
    action = str(form.get("action", ""))
    if action == "create":
        return _account(request, user, new_token=tokens.new_token(store, user, str(form.get("name", ""))[:300]))
    if action == "revoke":
        tokens.revoke(store, user, str(form.get("token", ""))[:20])
        return RedirectResponse("/account#api", status_code=303)
    raise BadRequest("action must be create or revoke")


async def account_digest(request: Request) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_account_digest, request, form)


def _account_digest(request: Request, form: FormData) -> Response:
    """A signed-in reader's digest: the address is proven, so subscribing needs no confirmation."""
    user = require(request)
    store = request.app.state.store
    subscriber = _subscription(request, user)
    action = str(form.get("action", "save"))
    if action == "unsubscribe":
        if subscriber is not None:
            sub.unsubscribe(store, subscriber)
    else:
        if subscriber is None or subscriber.status in ("unsubscribed", "pending", "expired"):
            now = utcnow()
            subscriber, _ = store.digests.upsert_pending(user.email, sub.check_frequency(str(form.get("frequency",
                                                                                                      "daily"))),
                                                         [], [], [], now, now)
            store.digests.set_status(subscriber.id, "confirmed", now)
            subscriber = store.digests.get(subscriber.id) or subscriber
        if subscriber.status == "confirmed":
            sub.save_preferences(store, subscriber, {k: str(v) for k, v in form.items()})
    return _account(request, user, saved=True)


def admin_page(request: Request) -> Response:
    """The operator's overview: subscribers, accounts, recent runs. Admins only."""
    require(request, "admin")
    store = request.app.state.store
    context = {"users": store.accounts.list(limit=200), "subscribers": store.digests.recent(limit=100),
               "subscriber_counts": store.digests.counts_by_status(), "outbox": store.digests.outbox_counts(),
               "runs": store.runs.job_runs(limit=30), "ingests": store.runs.ingest_runs(limit=20),
               "mail_error": request.app.state.mail_pump.last_error, "now": time.time()}
    return _page(request, "admin.html", context)
