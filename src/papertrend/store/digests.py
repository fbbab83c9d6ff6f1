"""SQL for subscribers, the once-only record of sent papers, the outbox and abuse limits.

Claiming outbox rows is a lease taken inside a write transaction
(SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED), so two senders never
take the same row; a row whose sender died comes back when its lease expires.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, and_, cast, delete, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..models import OutboxMessage, Subscriber
from . import schema as t
from .base import SubStore, dialect_insert
from .batching import chunks


def _subscriber(r: Any) -> Subscriber:
    return Subscriber(id=r.id, email=r.email, status=r.status, frequency=r.frequency,
                      topics=json.loads(r.topics_json), authors=json.loads(r.authors_json),
                      categories=json.loads(r.categories_json), paused=bool(r.paused), hard_bounces=r.hard_bounces,
                      created_at=r.created_at, confirmed_at=r.confirmed_at, expires_at=r.expires_at,
                      link_secret=r.link_secret)


def _message(r: Any) -> OutboxMessage:
    return OutboxMessage(id=r.id, subscriber_id=r.subscriber_id, kind=r.kind, period=r.period,
                         message_id=r.message_id, to_addr=r.to_addr, raw=r.raw, subject=r.subject, status=r.status,
                         attempts=r.attempts, last_error=r.last_error, transport=r.transport,
                         created_at=r.created_at, sent_at=r.sent_at, claim=r.claimed_by)


class DigestStore(SubStore):
    """``store.digests``."""

    # -- subscribers ---------------------------------------------------------------------------

    def upsert_pending(self, email: str, frequency: str, topics: list[str], authors: list[str],
                       categories: list[str], now: str, expires_at: str) -> tuple[Subscriber, bool]:
        """A new pending subscriber, or the existing one; True when a confirmation should go out
        (new, still pending, or unsubscribed and asking again)."""
        # A new secret for every sign-up: links from an earlier one (or another person's, had the
        # address been someone else's) never confirm this one.
        values = {"frequency": frequency, "topics_json": json.dumps(topics), "authors_json": json.dumps(authors),
                  "categories_json": json.dumps(categories), "link_secret": secrets.token_urlsafe(24)}
        with self._write() as conn:
            # The unique email decides who is new (two sign-ups at once on PostgreSQL: one row),
            # and the row is locked before it is read.
            made = conn.execute(dialect_insert(conn, t.subscribers).values(
                email=email, status="pending", created_at=now, expires_at=expires_at, paused=False, hard_bounces=0,
                **values).on_conflict_do_nothing(index_elements=["email"]).returning(t.subscribers.c.id)).first()
            row = conn.execute(select(t.subscribers).where(t.subscribers.c.email == email).with_for_update()).one()
            if made is not None:
                return _subscriber(row), True
            if row.status in ("pending", "unsubscribed"):
                conn.execute(update(t.subscribers).where(t.subscribers.c.id == row.id).values(
                    status="pending", expires_at=expires_at, **values))
                row = conn.execute(select(t.subscribers).where(t.subscribers.c.id == row.id)).one()
                return _subscriber(row), True
            return _subscriber(row), False  # confirmed or suppressed: nothing is sent

    def get(self, subscriber_id: int) -> Subscriber | None:
        with self._read() as conn:
            row = conn.execute(select(t.subscribers).where(t.subscribers.c.id == subscriber_id)).first()
        return _subscriber(row) if row else None

    def by_email(self, email: str) -> Subscriber | None:
        with self._read() as conn:
            row = conn.execute(select(t.subscribers).where(t.subscribers.c.email == email)).first()
        return _subscriber(row) if row else None

    def recent(self, limit: int = 100) -> list[Subscriber]:
        """The newest subscribers first (the admin page)."""
        with self._read() as conn:
            rows = conn.execute(select(t.subscribers).order_by(t.subscribers.c.id.desc()).limit(limit))
            return [_subscriber(r) for r in rows]

    def set_status(self, subscriber_id: int, status: str, now: str) -> None:
        values: dict[str, Any] = {"status": status}
        if status == "confirmed":
            values["confirmed_at"], values["expires_at"] = now, None
        if status == "unsubscribed":
            # Old preferences links stop working; old unsubscribe links still unsubscribe.
            values["unsubscribed_at"], values["link_secret"] = now, secrets.token_urlsafe(24)
        with self._write() as conn:
            conn.execute(update(t.subscribers).where(t.subscribers.c.id == subscriber_id).values(values))

    def update_preferences(self, subscriber_id: int, frequency: str, topics: list[str], authors: list[str],
                           categories: list[str], paused: bool) -> None:
        with self._write() as conn:
            conn.execute(update(t.subscribers).where(t.subscribers.c.id == subscriber_id).values(
                frequency=frequency, topics_json=json.dumps(topics), authors_json=json.dumps(authors),
                categories_json=json.dumps(categories), paused=paused))

    def confirmed(self, frequency: str) -> list[Subscriber]:
        query = select(t.subscribers).where(t.subscribers.c.status == "confirmed", t.subscribers.c.paused.is_(False),
                                            t.subscribers.c.frequency == frequency).order_by(t.subscribers.c.id)
        with self._read() as conn:
            return [_subscriber(r) for r in conn.execute(query)]

    def expire_pending(self, now: str) -> int:
        """Unconfirmed sign-ups expire: the address and interests are forgotten. The row stays,
        anonymised, so that its id is never handed to someone else."""
        c = t.subscribers.c
        expired = select(c.id).where(c.status == "pending", c.expires_at < now)
        with self._write() as conn:
            # Their confirmation mail (address and link) goes with them, unless a sender holds it.
            conn.execute(delete(t.outbox).where(t.outbox.c.subscriber_id.in_(expired),
                                                t.outbox.c.status != "sending"))
            n = conn.execute(update(t.subscribers).where(c.id.in_(expired)).values(
                status="expired", email=literal("expired-") + cast(c.id, String) + literal("@invalid"),
                topics_json="[]", authors_json="[]", categories_json="[]", link_secret=None)).rowcount
            # Sign-in mail older than a day: its link expired long ago; the address is forgotten.
            day_ago = (datetime.fromisoformat(now) - timedelta(days=1)).isoformat(timespec="seconds")
            conn.execute(delete(t.outbox).where(t.outbox.c.kind == "signin", t.outbox.c.created_at < day_ago,
                                                t.outbox.c.status != "sending"))
            return int(n)

    def counts_by_status(self) -> dict[str, int]:
        with self._read() as conn:
            query = select(t.subscribers.c.status, func.count()).group_by(t.subscribers.c.status)
            return {status: n for status, n in conn.execute(query)}

    # -- the once-only rule --------------------------------------------------------------------

    def sent_paper_ids(self, subscriber_ids: Sequence[int]) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {i: set() for i in subscriber_ids}
        with self._read() as conn:
            for chunk in chunks(subscriber_ids):
                for sid, pid in conn.execute(select(t.sent_papers.c.subscriber_id, t.sent_papers.c.paper_id)
                                             .where(t.sent_papers.c.subscriber_id.in_(chunk))):
                    out[sid].add(pid)
        return out

    # -- the outbox ----------------------------------------------------------------------------

    def enqueue(self, rows: list[dict[str, Any]], papers: dict[int, list[str]], now: str) -> int:
        """Insert messages (and, for digests, their papers into sent_papers) in one transaction.
        A (subscriber, kind, period) already in the outbox is left as it is: building is
        idempotent."""
        if not rows:
            return 0
        with self._write() as conn:
            keys = {(r["subscriber_id"], r["kind"], r["period"]) for r in rows}
            existing = {(a, b, c) for a, b, c in conn.execute(
                select(t.outbox.c.subscriber_id, t.outbox.c.kind, t.outbox.c.period).where(
                    t.outbox.c.period.in_({k[2] for k in keys})))}
            fresh = [r for r in rows if (r["subscriber_id"], r["kind"], r["period"]) not in existing]
            if not fresh:
                return 0
            conn.execute(insert(t.outbox), [dict(r, status="pending", attempts=0, next_attempt_at=0.0,
                                                 created_at=now) for r in fresh])
            sent = [{"subscriber_id": r["subscriber_id"], "paper_id": pid, "period": r["period"]}
                    for r in fresh if r["kind"] == "digest" for pid in papers.get(r["subscriber_id"], [])]
            if sent:
                conn.execute(insert(t.sent_papers), sent)
            return len(fresh)

    def enqueue_one(self, row: dict[str, Any], now: str) -> int | None:
        """Insert one message; its outbox id, or None when it was already there."""
        try:
            if self.enqueue([row], {}, now) != 1:
                return None
        except IntegrityError:
            return None
        with self._read() as conn:
            return conn.execute(select(t.outbox.c.id).where(t.outbox.c.message_id == row["message_id"])).scalar_one()

    def claim(self, now: float, lease: float, limit: int, only_id: int | None = None) -> list[OutboxMessage]:
        """Take up to ``limit`` due messages for sending: pending, retrying when due, or
        'sending' rows whose sender's lease ran out (it died)."""
        due = or_(t.outbox.c.status == "pending",
                  and_(t.outbox.c.status == "retrying", t.outbox.c.next_attempt_at <= now),
                  and_(t.outbox.c.status == "sending", t.outbox.c.lease_until < now))
        with self._write() as conn:
            query = select(t.outbox).where(due).order_by(t.outbox.c.id).limit(limit)
            if only_id is not None:
                query = query.where(t.outbox.c.id == only_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = [r.id for r in conn.execute(query)]
            if not ids:
                return []
            # A token of this claim: a sender whose lease ran out while it still worked cannot
            # mark or release rows that another sender has claimed since.
            token = secrets.token_hex(16)
            conn.execute(update(t.outbox).where(t.outbox.c.id.in_(ids)).values(
                status="sending", lease_until=now + lease, attempts=t.outbox.c.attempts + 1, claimed_by=token))
            return [_message(r) for r in conn.execute(select(t.outbox).where(t.outbox.c.id.in_(ids))
                                                      .order_by(t.outbox.c.id))]

    def mark(self, msg: OutboxMessage, status: str, *, now_iso: str | None = None, error: str | None = None,
             next_attempt_at: float | None = None, transport: str | None = None) -> bool:
        """Record what became of a claimed message; False when the claim was lost (its lease ran
        out and another sender took it)."""
        values: dict[str, Any] = {"status": status, "lease_until": None, "claimed_by": None}
        if now_iso and status == "sent":
            values["sent_at"] = now_iso
            if msg.kind == "signin":
                values["raw"] = b""  # a sign-in link is a credential: not kept once delivered
        if error is not None:
            values["last_error"] = error[:1000]
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if transport:
            values["transport"] = transport
        with self._write() as conn:
            return bool(conn.execute(update(t.outbox).where(
                t.outbox.c.id == msg.id, t.outbox.c.claimed_by == msg.claim).values(values)).rowcount)

    def release(self, messages: Sequence[OutboxMessage]) -> None:
        """Give claimed messages back untouched (the server, not the message, failed): the attempt
        does not count and the next run sends them. Only rows still under this sender's claim."""
        with self._write() as conn:
            for msg in messages:
                conn.execute(update(t.outbox).where(
                    t.outbox.c.id == msg.id, t.outbox.c.claimed_by == msg.claim, t.outbox.c.status == "sending")
                    .values(status="pending", lease_until=None, claimed_by=None, attempts=t.outbox.c.attempts - 1))

    def record_hard_bounce(self, subscriber_id: int | None, limit: int) -> bool:
        """Count a hard bounce; True when the address is now suppressed."""
        if subscriber_id is None:
            return False
        with self._write() as conn:
            conn.execute(update(t.subscribers).where(t.subscribers.c.id == subscriber_id).values(
                hard_bounces=t.subscribers.c.hard_bounces + 1))
            this = t.subscribers.c.id == subscriber_id
            n = conn.execute(select(t.subscribers.c.hard_bounces).where(this)).scalar_one()
            if n >= limit:
                conn.execute(update(t.subscribers).where(this).values(status="suppressed"))
                return True
        return False

    def outbox_counts(self) -> dict[str, int]:
        with self._read() as conn:
            return dict(conn.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)).all())

    def messages(self, limit: int = 100, subscriber_id: int | None = None) -> list[OutboxMessage]:
        query = select(t.outbox).order_by(t.outbox.c.id.desc()).limit(limit)
        if subscriber_id is not None:
            query = query.where(t.outbox.c.subscriber_id == subscriber_id)
        with self._read() as conn:
            return [_message(r) for r in conn.execute(query)]

    def message(self, message_id: int) -> OutboxMessage | None:
        with self._read() as conn:
            row = conn.execute(select(t.outbox).where(t.outbox.c.id == message_id)).first()
        return _message(row) if row else None
