"""The subscriber's side: subscribe (double opt-in), confirm, preferences, unsubscribe."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from ..addresses import normalise_email
from ..config import Settings
from ..errors import BadRequest
from ..models import Subscriber
from ..store import Store
from . import compose
from .mailer import accepts_utf8_addresses

FREQUENCIES = ("daily", "weekly")
PENDING_DAYS = 3
LIMIT_PER_CLIENT = (10, 3600.0)     # subscribe requests per client address per hour
LIMIT_PER_EMAIL = (3, 86400.0)      # confirmation mails per address per day


def split_list(value: str, limit: int = 20) -> list[str]:
    items = [" ".join(x.split())[:80] for x in re.split(r"[,\n]", value or "")]
    return [x for x in dict.fromkeys(items) if x][:limit]


def check_frequency(value: str) -> str:
    if value not in FREQUENCIES:
        raise BadRequest("frequency must be daily or weekly")
    return value


def subscribe(store: Store, settings: Settings, email: str, frequency: str, topics: str, authors: str,
              categories: str, client: str, now: float | None = None) -> int | None:
    """Register a pending subscriber and queue its confirmation. Returns the outbox id to send
    now, or None. Known, unknown and rate-limited addresses get the same answer from the page."""
    now = now or time.time()
    email = normalise_email(email, accepts_utf8_addresses(store, settings))
    frequency = check_frequency(frequency)
    if not store.coordination.hit(f"subscribe-client:{client}", now, LIMIT_PER_CLIENT[1], LIMIT_PER_CLIENT[0]):
        raise BadRequest("Too many subscription requests from your address; try again in an hour.")
    if not store.coordination.hit(f"subscribe-email:{email}", now, LIMIT_PER_EMAIL[1], LIMIT_PER_EMAIL[0]):
        # Nothing is touched: the form can neither flood an inbox nor keep renewing (so killing)
        # the links of someone else's sign-up.
        return None
    stamp = datetime.fromtimestamp(now, UTC)
    subscriber, send = store.digests.upsert_pending(
        email, frequency, split_list(topics), split_list(authors), split_list(categories),
        stamp.isoformat(timespec="seconds"), (stamp + timedelta(days=PENDING_DAYS)).isoformat(timespec="seconds"))
    if not send:
        return None
    nonce = f"c{int(now * 1000)}"
    c = compose.confirmation(settings, subscriber, nonce)
    return store.digests.enqueue_one({"subscriber_id": subscriber.id, "kind": "confirm", "period": nonce,
                                      "message_id": c.message_id, "to_addr": subscriber.email, "raw": c.raw,
                                      "subject": c.subject}, stamp.isoformat(timespec="seconds"))


def confirm(store: Store, subscriber: Subscriber) -> None:
    if subscriber.status == "pending":
        store.digests.set_status(subscriber.id, "confirmed", datetime.now(UTC).isoformat(timespec="seconds"))


def unsubscribe(store: Store, subscriber: Subscriber) -> None:
    if subscriber.status != "unsubscribed":
        store.digests.set_status(subscriber.id, "unsubscribed", datetime.now(UTC).isoformat(timespec="seconds"))


def save_preferences(store: Store, subscriber: Subscriber, form: dict[str, str]) -> None:
    """Apply the preferences form. Only fields the form sends change; a form without the
    frequency (an empty or forged POST) changes nothing, so it can never wipe settings."""
    if "frequency" not in form:
        raise BadRequest("Nothing to save: the form was empty.")
    def listed(name: str, current: list[str]) -> list[str]:
        return split_list(form[name]) if name in form else current
    store.digests.update_preferences(subscriber.id, check_frequency(form["frequency"]),
                                     listed("topics", subscriber.topics), listed("authors", subscriber.authors),
                                     listed("categories", subscriber.categories), bool(form.get("paused")))
