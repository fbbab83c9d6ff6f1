"""Signed tokens for the links in mail: confirm, preferences, unsubscribe. No login needed;
the signature (HMAC-SHA256 with the secret_key) is the authority, bound to one purpose."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

from ..config import Settings
from ..errors import BadRequest


def _sig(secret: str, payload: str) -> str:
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_token(settings: Settings, purpose: str, subscriber_id: int) -> str:
    payload = f"{purpose}.{subscriber_id}"
    return f"{payload}.{_sig(str(settings.secret_key), payload)}"


def read_token(settings: Settings, purpose: str, token: str) -> int:
    """The subscriber id in a valid token for ``purpose``; BadRequest otherwise."""
    parts = (token or "").split(".")
    if len(parts) != 3 or parts[0] != purpose or not parts[1].isdigit():
        raise BadRequest("This link is not valid. Use the latest link from your email.")
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], _sig(str(settings.secret_key), payload)):
        raise BadRequest("This link is not valid. Use the latest link from your email.")
    return int(parts[1])


def link(settings: Settings, path: str, purpose: str, subscriber_id: int) -> str:
    return f"{settings.base_url.rstrip('/')}{path}?token={quote(make_token(settings, purpose, subscriber_id))}"
