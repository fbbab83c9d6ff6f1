"""Subscription pages: the form's POST, confirm (only a POST confirms), preferences, one-click
unsubscribe (RFC 8058), and the outbox (admins only) that the demo reads when no SMTP server is
set. Every form POST is CSRF-checked except the one-click unsubscribe, which mail clients send
without a page (its signed token is the authority).

A handler that reads a form awaits it on the event loop, then does its store work in the
thread pool (``run_in_threadpool``); the others are plain ``def``, which Starlette runs there.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ..digest import links, subscribe as sub
from ..models import Subscriber
from .render import Renderer
from .security import checked_form, require


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.renderer
    return renderer.private_page(request, template, context, status)


def _subscriber(request: Request, purpose: str, token: str) -> Subscriber:
    return links.subscriber_for(request.app.state.settings, request.app.state.store, purpose, token)


async def subscribe_post(request: Request) -> Response:
    form = await checked_form(request)
    return await run_in_threadpool(_subscribe, request, form)


def _subscribe(request: Request, form: FormData) -> Response:
    store, settings = request.app.state.store, request.app.state.settings
    client = request.client.host if request.client else "unknown"
    outbox_id = sub.subscribe(store, settings, str(form.get("email", "")), str(form.get("frequency", "daily")),
                              str(form.get("topics", "")), str(form.get("authors", "")),
                              str(form.get("categories", "")), client)
    # The same answer whether the address was new, known or already confirmed: no enumeration.
    if outbox_id is not None:
        # The request only queues the confirmation; the sender mails it, never inside a request,
        # so a mail server that stalls holds up nothing here.
        request.app.state.mail_pump.nudge()
    return _page(request, "subscribed.html", {"local": not settings.smtp_host})


async def confirm(request: Request) -> Response:
    form = await checked_form(request) if request.method == "POST" else None
    return await run_in_threadpool(_confirm, request, form)


def _confirm(request: Request, form: FormData | None) -> Response:
    token = request.query_params.get("token", "")
    if form is not None:
        token = str(form.get("token", token))
    subscriber = _subscriber(request, "confirm", token)
    if form is not None:
        sub.confirm(request.app.state.store, subscriber)
        prefs = links.link(request.app.state.settings, "/preferences", "prefs", subscriber)
        return _page(request, "confirmed.html", {"prefs": prefs.split("?", 1)[1], "subscriber": subscriber})
    # Mail scanners follow links: a GET only shows the button.
    return _page(request, "confirm.html", {"token": token, "subscriber": subscriber})


async def preferences(request: Request) -> Response:
    form = await checked_form(request) if request.method == "POST" else None
    return await run_in_threadpool(_preferences, request, form)


def _preferences(request: Request, form: FormData | None) -> Response:
    token = str(form.get("token")) if form else request.query_params.get("token", "")
    subscriber = _subscriber(request, "prefs", token)
    store = request.app.state.store
    saved = False
    if form is not None:
        if form.get("unsubscribe"):
            sub.unsubscribe(store, subscriber)
            return _page(request, "unsubscribed.html", {})  # this preferences link is retired now
        sub.save_preferences(store, subscriber, {k: str(v) for k, v in form.items()})
        subscriber = store.digests.get(subscriber.id) or subscriber
        saved = True
    unsub = links.make_token(request.app.state.settings, "unsub", subscriber)
    return _page(request, "preferences.html", {"s": subscriber, "token": token, "saved": saved, "unsub": unsub})


async def unsubscribe(request: Request) -> Response:
    # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" with no page and no cookie, so this
    # is the one form without a CSRF token; the signed token in the URL is the authority.
    form = await request.form(max_files=0, max_fields=20) if request.method == "POST" else None
    return await run_in_threadpool(_unsubscribe, request, form)


def _unsubscribe(request: Request, form: FormData | None) -> Response:
    token = request.query_params.get("token", "") or (str(form.get("token", "")) if form else "")
    subscriber = _subscriber(request, "unsub", token)
    if form is not None:
        # RFC 8058 one-click: the POST itself unsubscribes, no login, no further question.
        sub.unsubscribe(request.app.state.store, subscriber)
        return _page(request, "unsubscribed.html", {})
    return _page(request, "unsubscribe.html", {"token": token})


_URL = re.compile(r"https?://[^\s<>\"]+")


def _linkify(text: str, base: str) -> Markup:
    """Plain text as HTML with links to this site clickable (the text is escaped first)."""
    html = str(escape(text))
    return Markup(_URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>' if m.group(0).startswith(
        str(escape(base))) else m.group(0), html))


def outbox(request: Request) -> Response:
    """The outbox, for admins: what was (or would have been, with no SMTP server) mailed."""
    import email
    from email import policy

    require(request, "admin")
    store, settings = request.app.state.store, request.app.state.settings
    messages = []
    for m in store.digests.messages(limit=100):
        parsed = email.message_from_bytes(m.raw, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        messages.append({"m": m, "to": m.to_addr, "subject": str(parsed["Subject"]), "date": str(parsed["Date"]),
                         "text": _linkify(body.get_content() if body else "", settings.base_url)})
    return _page(request, "outbox.html", {"messages": messages, "local": not settings.smtp_host})
