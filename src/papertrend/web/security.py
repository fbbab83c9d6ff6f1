"""Security as one design every view calls (as datasette's permission checks are):

- **who**: :func:`visitor` reads the signed session cookie once per request;
- **may they**: :func:`require` raises SignInRequired (pages redirect to sign in) or Forbidden;
- **did they mean it**: :func:`checked_form` reads a POSTed form and refuses it (403) unless it
  carries the CSRF token of this browser, and unless its Origin, when it names one, is this site. The
  one exemption is the RFC 8058 one-click unsubscribe, which mail clients POST with no page;
- **how much**: :class:`BodyLimit` answers 413 before reading a body over ``max_body_bytes``.

Pages are cached and shared between visitors, so what is per visitor (the CSRF token, the
account menu) is spliced into the cached page at send time (:func:`personalise`); the ETag of
a page includes the visitor, so a 304 never hands one visitor's page to another.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from markupsafe import escape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_ok, csrf_token, new_csrf_seed, session_user
from ..config import Settings
from ..errors import BadRequest, Forbidden, SignInRequired, TooLarge
from ..models import User

CSRF_FIELD = "csrf"
CSRF_PLACEHOLDER = "<pt:csrf>"   # with "<": text from a paper, escaped, can never contain it
NAV_PLACEHOLDER = "<!--pt:account-->"


@dataclass
class Visitor:
    user: User | None
    csrf_seed: str
    new_seed: bool          # the browser has no CSRF cookie yet: the response sets one

    @property
    def key(self) -> str:
        """What makes this visitor's copy of a page theirs (for ETags)."""
        who = f"{self.user.id}.{self.user.session_epoch}.{self.user.role}" if self.user else "-"
        return f"{who}|{self.csrf_seed}"


def visitor(request: Request) -> Visitor:
    """The visitor of this request, read once."""
    found: Visitor | None = getattr(request.state, "visitor", None)
    if found is not None:
        return found
    store, settings = request.app.state.store, request.app.state.settings
    csrf_name, session_name = cookie_names(settings)
    seed = request.cookies.get(csrf_name, "")
    new = not (16 <= len(seed) <= 64 and seed.replace("-", "").replace("_", "").isalnum())
    found = Visitor(session_user(store, settings, request.cookies.get(session_name)),
                    new_csrf_seed() if new else seed, new)
    request.state.visitor = found
    return found


def cookie_names(settings: Settings) -> tuple[str, str]:
    """(CSRF cookie, session cookie). On an https site they carry the ``__Host-`` prefix, which
    browsers accept only from this host, Secure, for path /: a sibling subdomain or a
    man-in-the-middle on http cannot plant a CSRF seed whose token it knows."""
    prefix = "__Host-" if settings.base_url.startswith("https:") else ""
    return prefix + CSRF_COOKIE, prefix + SESSION_COOKIE


def require(request: Request, role: str = "reader") -> User:
    """The signed-in account, if its role allows ``role``."""
    user = visitor(request).user
    if user is None:
        raise SignInRequired("Sign in to see this page.")
    if not user.has_role(role):
        raise Forbidden("Your account is not allowed to do this." if user.status == "active"
                        else "This account is suspended.")
    return user


def _same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # No Origin (older clients), or "null" (a page sent with Referrer-Policy: no-referrer, a
        # privacy extension): the CSRF token alone decides.
        return True
    allowed = {_origin(settings.base_url), f"{request.url.scheme}://{request.headers.get('host', '')}"}
    return origin.rstrip("/") in allowed


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def checked_form(request: Request) -> FormData:
    """The POSTed form, if it is this browser's own (CSRF token and Origin); Forbidden otherwise."""
    settings: Settings = request.app.state.settings
    form = await request.form(max_files=0, max_fields=200)
    token = str(form.get(CSRF_FIELD) or request.headers.get("x-csrf-token") or "")
    seed = request.cookies.get(cookie_names(settings)[0])
    if not _same_origin(request, settings) or not csrf_ok(settings, seed, token):
        raise Forbidden("This form has expired or did not come from this site. Reload the page and try again.")
    for key, value in form.multi_items():
        # No text here holds a NUL, and PostgreSQL refuses to store one: a clear 400, never a 500.
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest(f"The field {key[:40]!r} contains a NUL character (\\x00); remove it and try again.")
    return form


def csrf_for(request: Request) -> str:
    return csrf_token(request.app.state.settings, visitor(request).csrf_seed)


def visitor_etag(request: Request, etag: str) -> str:
    """The page's ETag made this visitor's: the same page for someone else is another entity."""
    raw = f"{etag}|{visitor(request).key}"
    return '"' + hashlib.sha1(raw.encode()).hexdigest()[:20] + '"'


def account_nav(request: Request) -> str:
    user = visitor(request).user
    if user is None:
        return '<a href="/signin">Sign in</a>'
    admin = ' <a href="/admin">Admin</a>' if user.has_role("admin") else ""
    moderation = ' <a href="/moderation">Moderation</a>' if user.has_role("moderator") else ""
    return (f'<a href="/submit">Submit</a> <a href="/library">Library</a>{moderation} '
            f'<a href="/account">{escape(user.name)}</a>{admin}')


# Per-person marks on shared pages (web/templates/_paper.html, _comments.html). Inside a tag,
# with "<": escaped text from a paper or a comment can never contain one.
_MARK = re.compile(rb"<pt:(vote|save|own|mod):([^<>]{0,80})>")
_STATES = {("vote", False): b'up" aria-pressed="false', ("vote", True): b'down" aria-pressed="true',
           ("save", False): b'save" aria-pressed="false', ("save", True): b'unsave" aria-pressed="true'}


def _marks(request: Request, body: bytes) -> bytes:
    """Did this visitor upvote or save each paper, may they edit each comment, are they a
    moderator: one query for the page's papers, only for a signed-in visitor."""
    found = _MARK.findall(body)
    if not found:
        return body
    user = visitor(request).user
    voted: set[str] = set()
    saved: set[str] = set()
    if user is not None:
        ids = {value.decode() for kind, value in found if kind in (b"vote", b"save")}
        if ids:
            voted, saved = request.app.state.store.community.marks(user.id, ids)

    def mark(m: re.Match[bytes]) -> bytes:
        kind, value = m.group(1).decode(), m.group(2).decode()
        if kind == "vote":
            return _STATES[("vote", value in voted)]
        if kind == "save":
            return _STATES[("save", value in saved)]
        if kind == "own":
            return b"" if user is not None and str(user.id) == value else b"hidden"
        return b"" if user is not None and user.has_role("moderator") else b"hidden"

    return _MARK.sub(mark, body)


def personalise(request: Request, body: bytes) -> bytes:
    """A (possibly cached, shared) page with this visitor's CSRF token and account menu."""
    if CSRF_PLACEHOLDER.encode() in body:
        body = body.replace(CSRF_PLACEHOLDER.encode(), csrf_for(request).encode())
    if NAV_PLACEHOLDER.encode() in body:
        body = body.replace(NAV_PLACEHOLDER.encode(), account_nav(request).encode())
    return _marks(request, body)


def set_visitor_cookies(request: Request, response: Response) -> None:
    """Give a new browser its CSRF cookie (HttpOnly, SameSite=Lax; Secure on an https site)."""
    v: Visitor | None = getattr(request.state, "visitor", None)
    if v is not None and v.new_seed:
        settings = request.app.state.settings
        response.set_cookie(cookie_names(settings)[0], v.csrf_seed, max_age=365 * 86400, httponly=True,
                            samesite="lax", secure=settings.base_url.startswith("https:"))


def set_session(request: Request, response: Response, value: str | None, max_age: int) -> None:
    settings = request.app.state.settings
    secure, name = settings.base_url.startswith("https:"), cookie_names(settings)[1]
    if value is None:
        response.delete_cookie(name, httponly=True, samesite="lax", secure=secure)
    else:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure)


class BodyLimit:
    """413 for a body over ``limit`` bytes: refused by its Content-Length before reading, and
    counted while reading when it has none (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if length and (not length.isdigit() or int(length) > self.limit):
            await _too_large(scope, send, self.limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(f"The request body is larger than {self.limit:,} bytes.")
            return message

        await self.app(scope, counted, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps({"error": f"The request body is larger than {limit:,} bytes.", "status": 413}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
