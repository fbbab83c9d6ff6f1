"""Subscription pages: the form's POST, confirm (only a POST confirms), preferences, one-click
unsubscribe (RFC 8058), and the local outbox the demo shows when no SMTP server is set.

A handler that reads a form awaits it on the event loop, then does its store work in the
thread pool (``run_in_threadpool``); the others are plain ``def``, which Starlette runs there.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ..digest import links, subscribe as sub
from ..digest.mailer import deliver
from ..errors import NotFound
from ..models import Subscriber
from .render import Renderer


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.renderer
    return renderer.page(request, template, context, status_code=status,
                         headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})


def _subscriber(request: Request, purpose: str, token: str) -> Subscriber:
    sid = links.read_token(request.app.state.settings, purpose, token)
    subscriber = request.app.state.store.digests.get(sid)
    if subscriber is None:
        raise NotFound("This subscription no longer exists.")
    return subscriber


async def subscribe_post(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_subscribe, request, form)


def _subscribe(request: Request, form: FormData) -> Response:
    store, settings = request.app.state.store, request.app.state.settings
    client = request.client.host if request.client else "unknown"
    outbox_id = sub.subscribe(store, settings, str(form.get("email", "")), str(form.get("frequency", "daily")),
                              str(form.get("topics", "")), str(form.get("authors", "")),
                              str(form.get("categories", "")), client)
    # The same answer whether the address was new, known or already confirmed: no enumeration.
    response = _page(request, "subscribed.html", {"local": not settings.smtp_host})
    if outbox_id is not None:
        # The confirmation goes out now, not at the next run, but after the answer is sent: a slow
        # SMTP server does not hold up the page, and the answer's timing does not tell a new
        # address from a known one. (If the process dies first, `digest send` delivers it.)
        response.background = BackgroundTask(deliver, store, settings, only_id=outbox_id)
    return response


async def confirm(request: Request) -> Response:
    form = await request.form() if request.method == "POST" else None
    return await run_in_threadpool(_confirm, request, form)


def _confirm(request: Request, form: FormData | None) -> Response:
    token = request.query_params.get("token", "")
    if form is not None:
        token = str(form.get("token", token))
    subscriber = _subscriber(request, "confirm", token)
    if form is not None:
        sub.confirm(request.app.state.store, subscriber)
        prefs = links.link(request.app.state.settings, "/preferences", "prefs", subscriber.id)
        return _page(request, "confirmed.html", {"prefs": prefs.split("?", 1)[1]})
    # Mail scanners follow links: a GET only shows the button.
    return _page(request, "confirm.html", {"token": token, "subscriber": subscriber})


async def preferences(request: Request) -> Response:
    form = await request.form() if request.method == "POST" else None
    return await run_in_threadpool(_preferences, request, form)


def _preferences(request: Request, form: FormData | None) -> Response:
    token = str(form.get("token")) if form else request.query_params.get("token", "")
    subscriber = _subscriber(request, "prefs", token)
    store = request.app.state.store
    saved = False
    if form is not None:
        if form.get("unsubscribe"):
            sub.unsubscribe(store, subscriber)
        else:
            store.digests.update_preferences(subscriber.id, sub.check_frequency(str(form.get("frequency", "daily"))),
                                             sub.split_list(str(form.get("topics", ""))),
                                             sub.split_list(str(form.get("authors", ""))),
                                             sub.split_list(str(form.get("categories", ""))), bool(form.get("paused")))
        subscriber = store.digests.get(subscriber.id)
        saved = True
    unsub = links.make_token(request.app.state.settings, "unsub", subscriber.id)
    return _page(request, "preferences.html", {"s": subscriber, "token": token, "saved": saved, "unsub": unsub})


async def unsubscribe(request: Request) -> Response:
    form = await request.form() if request.method == "POST" else None
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
    """The local outbox: what would have been mailed when no SMTP server is configured."""
    import email
    from email import policy

    store, settings = request.app.state.store, request.app.state.settings
    messages = []
    for m in store.digests.messages(limit=100):
        parsed = email.message_from_bytes(m.raw, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        messages.append({"m": m, "to": m.to_addr, "subject": str(parsed["Subject"]), "date": str(parsed["Date"]),
                         "text": _linkify(body.get_content() if body else "", settings.base_url)})
    return _page(request, "outbox.html", {"messages": messages, "local": not settings.smtp_host})
