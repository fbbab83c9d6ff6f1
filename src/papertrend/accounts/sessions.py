"""Sessions and CSRF tokens, signed with ``secret_key``.

A session is a signed cookie naming the account and its ``session_epoch``: signing out
everywhere bumps the epoch, which ends every cookie issued before. A CSRF token is an HMAC of
a random per-browser value kept in its own cookie (double submit, signed), so a page on another
site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Settings
from ..models import User
from ..store import Store

SESSION_COOKIE = "pt_session"
CSRF_COOKIE = "pt_csrf"
SESSION_DAYS = 30


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(settings.secret_key), salt="papertrend.session")


def session_value(settings: Settings, user: User) -> str:
    return _serializer(settings).dumps({"u": user.id, "e": user.session_epoch})


def session_user(store: Store, settings: Settings, value: str | None) -> User | None:
    """The signed-in account of a session cookie, or None (absent, forged, expired, ended)."""
    if not value or len(value) > 500:
        return None
    try:
        data = _serializer(settings).loads(value, max_age=SESSION_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = store.accounts.get(data["u"])
    if user is None or user.session_epoch != data.get("e"):
        return None
    return user


def new_csrf_seed() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(settings: Settings, seed: str) -> str:
    return hmac.new(str(settings.secret_key).encode(), f"csrf|{seed}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(settings: Settings, seed: str | None, token: str | None) -> bool:
    if not seed or not token or len(seed) > 100:
        return False
    # Bytes: compare_digest refuses non-ASCII str (a TypeError, so a 500, for a hostile field).
    return hmac.compare_digest(csrf_token(settings, seed).encode(), token.encode())
