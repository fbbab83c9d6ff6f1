"""Delivering the outbox: SMTP when configured, else the local outbox (shown at /outbox).

Rows are claimed with a lease, sent over one reused SMTP connection at most ``mail_rate`` per
second, and marked sent right after the server accepts them. Killed mid-batch, a sender loses
nothing: claimed rows come back when their lease expires. The one duplicate possible is a
message the server accepted in the instant before the kill; it carries the same Message-ID.
4xx answers and connection failures retry with exponential backoff; 5xx fails the row and
counts a hard bounce; ``bounce_limit`` of them suppress the address.
"""

from __future__ import annotations

import email
import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.utils import parseaddr

from ..config import Settings
from ..models import OutboxMessage
from ..store import Store

MAX_BACKOFF = 6 * 3600.0


class SmtpTransport:
    """One SMTP connection, opened on first use and reused."""

    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self.settings, self.timeout = settings, timeout
        self.conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=self.timeout,
                                                  context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
            if s.smtp_security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            conn.login(s.smtp_user, str(s.smtp_password))
        return conn

    def send(self, sender: str, to: str, raw: bytes) -> None:
        if self.conn is None:
            self.conn = self._open()
        options: list[str] = []
        if not raw.isascii():
            if self.conn.has_extn("8bitmime"):
                options = ["BODY=8BITMIME"]
            else:  # a server without 8BITMIME gets the same message re-encoded in 7 bits
                raw = email.message_from_bytes(raw, policy=policy.SMTP).as_bytes(
                    policy=policy.SMTP.clone(cte_type="7bit"))
        self.conn.sendmail(sender, [to], raw, mail_options=options)

    def reset(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def deliver(store: Store, settings: Settings, *, batch: int = 20, only_id: int | None = None,
            clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
            on_sent: Callable[[OutboxMessage], None] | None = None) -> dict[str, int]:
    """Send what is due until nothing is; returns counts by outcome. Safe to run concurrently."""
    counts = {"sent": 0, "retrying": 0, "failed": 0, "suppressed": 0}
    sender = parseaddr(settings.mail_from)[1] or "papertrend@localhost"
    transport = SmtpTransport(settings) if settings.smtp_host else None
    gap = 1.0 / settings.mail_rate if settings.mail_rate > 0 else 0.0
    last = 0.0
    try:
        while True:
            claimed = store.digests.claim(clock(), settings.mail_lease_seconds, batch, only_id)
            if not claimed:
                break
            for msg in claimed:
                if transport is None:
                    store.digests.mark(msg.id, "sent", now_iso=_iso(clock()), transport="local")
                    counts["sent"] += 1
                    continue
                wait = last + gap - clock()
                if wait > 0:
                    sleep(wait)
                last = clock()
                try:
                    transport.send(sender, msg.to_addr, msg.raw)
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = next(iter(exc.recipients.values()))
                    _failed(store, settings, msg, code, text, clock(), counts)
                except smtplib.SMTPResponseException as exc:
                    _failed(store, settings, msg, exc.smtp_code, exc.smtp_error, clock(), counts)
                    if exc.smtp_code == 421:
                        transport.reset()
                except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
                    transport.reset()
                    _retry(store, msg, f"connection: {exc}", clock(), counts)
                else:
                    store.digests.mark(msg.id, "sent", now_iso=_iso(clock()), transport="smtp")
                    counts["sent"] += 1
                    if on_sent:
                        on_sent(msg)
            if only_id is not None:
                break
    finally:
        if transport is not None:
            transport.close()
    return counts


def _retry(store: Store, msg: OutboxMessage, error: str, now: float, counts: dict[str, int]) -> None:
    delay = min(MAX_BACKOFF, 60.0 * 2 ** max(0, msg.attempts))
    store.digests.mark(msg.id, "retrying", error=error, next_attempt_at=now + delay)
    counts["retrying"] += 1


def _failed(store: Store, settings: Settings, msg: OutboxMessage, code: int, text: bytes | str, now: float,
            counts: dict[str, int]) -> None:
    detail = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    if 400 <= code < 500:
        _retry(store, msg, detail, now, counts)
        return
    store.digests.mark(msg.id, "failed", error=detail)
    counts["failed"] += 1
    if store.digests.record_hard_bounce(msg.subscriber_id, settings.bounce_limit):
        counts["suppressed"] += 1
