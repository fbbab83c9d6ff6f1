"""Signing in by an emailed link: single use, valid for 15 minutes, the same answer whether or
not the address has an account. The account is made when the link is first used: proving the
address is what signing up means."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import quote

from ..addresses import normalise_email
from ..config import Settings
from ..digest import compose
from ..digest.mailer import accepts_utf8_addresses
from ..errors import BadRequest
from ..models import ROLE_ORDER, User
from ..store import Store

LINK_MINUTES = 15
LIMIT_PER_CLIENT = (10, 3600.0)    # sign-in requests per client address per hour
LIMIT_PER_EMAIL = (5, 3600.0)      # sign-in mails per address per hour
INVALID = "This sign-in link is not valid any more (each link works once, for 15 minutes). Ask for a new one."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def signin_url(settings: Settings, token: str, next_path: str = "") -> str:
    then = f"&next={quote(next_path, safe='')}" if next_path.startswith("/") and len(next_path) < 300 else ""
    return f"{settings.base_url.rstrip('/')}/signin/link?token={quote(token)}{then}"


def new_link(store: Store, settings: Settings, email: str, now: float | None = None, next_path: str = "") -> str:
    """A fresh single-use sign-in URL for ``email`` (stored as a hash only)."""
    now = now or time.time()
    token = secrets.token_urlsafe(32)
    store.accounts.add_signin_token(_hash(token), email, _iso(now), now + LINK_MINUTES * 60)
    return signin_url(settings, token, next_path)


def request_link(store: Store, settings: Settings, email: str, client: str, now: float | None = None,
                 next_path: str = "") -> bool:
    """Queue a sign-in mail for ``email``; True when one was queued. The page says the same thing
    either way, so the form tells nobody which addresses have accounts or were asked for."""
    now = now or time.time()
    email = normalise_email(email, accepts_utf8_addresses(store, settings))
    if not store.coordination.hit(f"signin-client:{client}", now, LIMIT_PER_CLIENT[1], LIMIT_PER_CLIENT[0]):
        raise BadRequest("Too many sign-in requests from your address; try again in an hour.")
    if not store.coordination.hit(f"signin-email:{email}", now, LIMIT_PER_EMAIL[1], LIMIT_PER_EMAIL[0]):
        return False  # the form cannot be used to flood someone's inbox
    user = store.accounts.by_email(email)
    if user is not None and user.status != "active":
        return False
    nonce = f"s{secrets.token_hex(9)}"  # 19 characters: outbox.period holds 20
    mail = compose.signin(settings, email, new_link(store, settings, email, now, next_path), LINK_MINUTES, nonce)
    store.digests.enqueue_one({"subscriber_id": None, "kind": "signin", "period": nonce, "message_id": mail.message_id,
                               "to_addr": email, "raw": mail.raw, "subject": mail.subject}, _iso(now))
    return True


def redeem(store: Store, token: str, now: float | None = None) -> User:
    """The account a valid link signs in (made now if new); the link is used up. BadRequest
    for a used, expired, forged or suspended one."""
    now = now or time.time()
    if not token or len(token) > 100:
        raise BadRequest(INVALID)
    email = store.accounts.redeem_signin_token(_hash(token), now, _iso(now))
    if email is None:
        raise BadRequest(INVALID)
    user = store.accounts.create(email, "reader", _iso(now))
    if user.status != "active":
        raise BadRequest("This account is suspended.")
    store.accounts.signed_in(user.id, _iso(now))
    return user


def add_user(store: Store, email: str, role: str) -> User:
    """Make (or change the role of) an account from the command line."""
    if role not in ROLE_ORDER:
        raise BadRequest(f"role must be one of {', '.join(ROLE_ORDER)}")
    email = normalise_email(email)
    user = store.accounts.create(email, role, _iso(time.time()))
    if user.role != role:
        store.accounts.set_role(user.id, role)
        user = store.accounts.get(user.id) or user
    return user
