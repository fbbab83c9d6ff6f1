"""Signed links in mail: confirm, preferences, unsubscribe. No login needed; the signature is
the authority, and it is bound to three things:

- its **purpose** (a preferences link cannot unsubscribe, an unsubscribe link cannot confirm);
- the **subscriber** it was made for, through a secret of theirs: confirm and preferences links are
  signed with the subscriber's random ``link_secret``, which is renewed on every new sign-up and
  on unsubscribe, so a link kept from an earlier sign-up, or from before an unsubscribe, acts for
  nobody; unsubscribe links are signed with the address, so the one-click link in an old digest
  still unsubscribes that address (RFC 8058) and nobody else;
- for confirm links, an **expiry** (the pending sign-up's lifetime).

HMAC-SHA256 with ``secret_key``; the token is ``purpose.id.expiry.signature``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from ..config import DEV_SECRET, Settings
from ..errors import BadRequest
from ..models import Subscriber
from ..store import Store

PURPOSES = ("confirm", "prefs", "unsub")
INVALID = "This link is not valid any more. Use the latest link from your email."


def _binding(purpose: str, subscriber: Subscriber) -> str:
    if purpose == "unsub":
        return subscriber.email
    return subscriber.link_secret or ""  # no secret: no valid link (an expired sign-up)


def _sig(settings: Settings, payload: str, binding: str) -> str:
    mac = hmac.new(str(settings.secret_key).encode(), f"{payload}|{binding}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def make_token(settings: Settings, purpose: str, subscriber: Subscriber, expires: float | None = None) -> str:
    payload = f"{purpose}.{subscriber.id}.{int(expires) if expires else 0}"
    return f"{payload}.{_sig(settings, payload, _binding(purpose, subscriber))}"


def subscriber_for(settings: Settings, store: Store, purpose: str, token: str,
                   now: float | None = None) -> Subscriber:
    """The subscriber a valid, unexpired token for ``purpose`` was made for; BadRequest otherwise."""
    parts = (token or "")[:200].split(".")
    if purpose == "unsub" and len(parts) == 3:
        return _legacy_unsubscribe(settings, store, parts)
    if len(parts) != 4 or parts[0] != purpose or not parts[1].isdigit() or not parts[2].isdigit():
        raise BadRequest(INVALID)
    subscriber = store.digests.get(int(parts[1]))
    if subscriber is None or not _binding(purpose, subscriber):
        raise BadRequest(INVALID)
    expected = _sig(settings, ".".join(parts[:3]), _binding(purpose, subscriber))
    if not hmac.compare_digest(parts[3].encode(), expected.encode()):
        raise BadRequest(INVALID)
    expires = int(parts[2])
    if expires and (now or time.time()) > expires:
        raise BadRequest("This confirmation link has expired. Subscribe again to get a new one.")
    return subscriber


def _legacy_unsubscribe(settings: Settings, store: Store, parts: list[str]) -> Subscriber:
    """``unsub.<id>.<signature>`` from digests mailed before links were bound to the address: the
    one-click unsubscribe in mail already delivered must keep working (RFC 8058; bulk-sender rules).
    Never with the old public development secret, with which anyone could have made one."""
    if str(settings.secret_key) == DEV_SECRET or parts[0] != "unsub" or not parts[1].isdigit():
        raise BadRequest(INVALID)
    payload = f"unsub.{parts[1]}"
    mac = hmac.new(str(settings.secret_key).encode(), payload.encode(), hashlib.sha256).digest()[:18]
    expected = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    subscriber = store.digests.get(int(parts[1]))
    if subscriber is None or not hmac.compare_digest(parts[2].encode(), expected.encode()):
        raise BadRequest(INVALID)
    return subscriber


def link(settings: Settings, path: str, purpose: str, subscriber: Subscriber, expires: float | None = None) -> str:
    token = make_token(settings, purpose, subscriber, expires)
    return f"{settings.base_url.rstrip('/')}{path}?token={quote(token)}"
