"""Personal API tokens: an account's scripts comment and upvote through the API with one, sent
as ``Authorization: Bearer pt_...``. The account page makes a token and shows it once; only
its SHA-256 is stored (a token is 256 random bits, so a plain hash cannot be reversed by
guessing), and revoking it deletes the row."""

from __future__ import annotations

import hashlib
import secrets

from ..errors import BadRequest, TooManyRequests
from ..models import User
from ..store import Store, utcnow

PREFIX = "pt_"
MAX_PER_ACCOUNT = 20
NAME_MAX = 100


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(store: Store, user: User, name: str) -> str:
    """A new token for ``user`` named ``name`` (to tell tokens apart on the account page): the
    token itself, which is never shown again."""
    label = " ".join(name.split())[:NAME_MAX] or "API token"
    if store.api_tokens.count(user.id) >= MAX_PER_ACCOUNT:
        raise TooManyRequests(f"An account may have at most {MAX_PER_ACCOUNT} API tokens: revoke one first.")
    token = PREFIX + secrets.token_urlsafe(32)
    store.api_tokens.add(user.id, token_hash(token), label, utcnow())
    return token


def revoke(store: Store, user: User, token_id: str) -> None:
    if not (token_id.isascii() and token_id.isdigit() and len(token_id) < 18) or not store.api_tokens.revoke(
            user.id, int(token_id)):
        raise BadRequest("No such API token on this account.")


def user_for(store: Store, authorization: str | None) -> User | None:
    """The account of the ``Authorization: Bearer`` token, or None (no header, another scheme,
    or a token this instance did not issue or that was revoked)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    return store.api_tokens.user_of(token_hash(token), utcnow())
