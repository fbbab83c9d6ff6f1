"""Delivering the outbox: SMTP when configured, else the local outbox (shown at /outbox).

Rows are claimed with a lease, sent over one reused SMTP connection at most ``mail_rate`` per
second, and marked sent right after the server accepts them. Killed mid-batch, a sender loses
nothing: claimed rows come back when their lease expires. The one duplicate possible is a
message the server accepted in the instant before the kill; it carries the same Message-ID.

What goes wrong is told apart, because the remedies differ:

- **the server** cannot be used (connection refused or timed out, authentication refused, our
  sender address refused): the run stops, every claimed row goes back untouched, and
  :class:`MailServerError` tells the operator. Nobody is blamed with a bounce.
- **one message** cannot be sent (the server refuses this recipient for good, rejects its content,
  or cannot take a non-ASCII address without SMTPUTF8): that row is marked failed with the reason,
  and the queue moves on. Only a recipient refused for good counts as a hard bounce (5xx to RCPT,
  or after DATA with an enhanced code about the address, 5.1.x or 5.2.x); ``bounce_limit`` of
  them suppress the address.
- a **temporary** answer (4xx, a dropped connection mid-message): the row retries with
  exponential backoff.
"""

from __future__ import annotations

import email
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.utils import parseaddr

from ..config import Settings
from ..errors import MailServerError
from ..models import OutboxMessage
from ..store import Store

MAX_BACKOFF = 6 * 3600.0
_ADDRESS_FAULT = re.compile(r"\s*5\.[12]\.\d+")   # RFC 3463: bad destination address / mailbox
SMTPUTF8_STATE = "smtp.smtputf8"   # app_state: "yes" or "no", as the server last said in EHLO


class MessageRefused(Exception):
    """This message cannot be sent through this server, whatever we retry."""


class SmtpTransport:
    """One SMTP connection, opened on first use and reused."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.timeout = settings, settings.smtp_timeout
        self.conn: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        """Connect and log in; MailServerError when the server cannot be used."""
        s = self.settings
        where = f"{s.smtp_host}:{s.smtp_port}"
        conn: smtplib.SMTP | None = None
        try:
            if s.smtp_security == "tls":
                conn = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
                if s.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            conn.ehlo_or_helo_if_needed()
            if s.smtp_user:
                conn.login(s.smtp_user, str(s.smtp_password))
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            _close(conn)
            raise MailServerError(f"mail server {where} refused the login of {s.smtp_user!r} "
                                  f"({exc.smtp_code}): check smtp_user and smtp_password") from None
        except (smtplib.SMTPException, OSError) as exc:
            _close(conn)
            raise MailServerError(f"mail server {where} cannot be used: {exc}") from None

    def connection(self) -> smtplib.SMTP:
        if self.conn is None:
            self.conn = self.open()
        return self.conn

    def send(self, sender: str, to: str, raw: bytes) -> None:
        conn = self.connection()
        options: list[str] = []
        if not to.isascii():
            if not conn.has_extn("smtputf8"):
                raise MessageRefused("the mail server does not offer SMTPUTF8, needed for a non-ASCII address")
            options.append("SMTPUTF8")
        if not raw.isascii():
            if conn.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            elif "SMTPUTF8" not in options:  # a server without 8BITMIME gets the message in 7 bits
                raw = email.message_from_bytes(raw, policy=policy.SMTP).as_bytes(
                    policy=policy.SMTP.clone(cte_type="7bit"))
        conn.sendmail(sender, [to], raw, mail_options=options)

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


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def record_capabilities(store: Store, transport: SmtpTransport) -> bool:
    """Connect, and remember whether the server takes SMTPUTF8 (the subscribe form asks)."""
    utf8 = transport.connection().has_extn("smtputf8")
    store.coordination.set_state(SMTPUTF8_STATE, "yes" if utf8 else "no")
    return bool(utf8)


def accepts_utf8_addresses(store: Store, settings: Settings) -> bool:
    """Whether an address with a non-ASCII local part can be delivered: always into the local
    outbox; through SMTP only when the server said SMTPUTF8 the last time a sender connected."""
    return not settings.smtp_host or store.coordination.get_state(SMTPUTF8_STATE) == "yes"


def deliver(store: Store, settings: Settings, *, batch: int = 20, only_id: int | None = None,
            clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
            on_sent: Callable[[OutboxMessage], None] | None = None) -> dict[str, int]:
    """Send what is due until nothing is; returns counts by outcome. Safe to run concurrently.
    Raises MailServerError (after giving every claimed row back) when the server cannot be used."""
    counts = {"sent": 0, "retrying": 0, "failed": 0, "suppressed": 0}
    sender = parseaddr(settings.mail_from)[1] or "papertrend@localhost"
    transport = SmtpTransport(settings) if settings.smtp_host else None
    gap = 1.0 / settings.mail_rate if settings.mail_rate > 0 else 0.0
    # Claim no more than can be sent well within the lease, even if each message takes the whole
    # SMTP timeout: a lease that runs out mid-batch would let another sender take those rows.
    if transport is not None:
        batch = max(1, min(batch, int(settings.mail_lease_seconds / (2 * (settings.smtp_timeout + gap)))))
    last = 0.0
    try:
        while True:
            claimed = store.digests.claim(clock(), settings.mail_lease_seconds, batch, only_id)
            if not claimed:
                break
            done = 0
            try:
                if transport is not None and transport.conn is None:
                    record_capabilities(store, transport)
                for msg in claimed:
                    if transport is None:
                        store.digests.mark(msg, "sent", now_iso=_iso(clock()), transport="local")
                        counts["sent"] += 1
                    else:
                        wait = last + gap - clock()
                        if wait > 0:
                            sleep(wait)
                        last = clock()
                        sent = _send_one(store, settings, transport, sender, msg, clock, counts)
                        if sent and on_sent:
                            on_sent(msg)
                    done += 1
            except BaseException:
                # The server failed, or something else did (the database, an interrupt): every row
                # not yet recorded goes back now rather than when its lease runs out.
                store.digests.release(claimed[done:])
                raise
            if only_id is not None:
                break
    finally:
        if transport is not None:
            transport.close()
    return counts


def _send_one(store: Store, settings: Settings, transport: SmtpTransport, sender: str, msg: OutboxMessage,
              clock: Callable[[], float], counts: dict[str, int]) -> bool:
    """Send one message and record the outcome; True when the server accepted it."""
    try:
        transport.send(sender, msg.to_addr, msg.raw)
    except MessageRefused as exc:
        _failed(store, msg, str(exc), counts)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        if code == 421:
            transport.reset()
        if 400 <= code < 500:
            _retry(store, msg, _detail(code, text), clock(), counts)
        elif _blames_server(code, text):
            # "530 authentication required", "550 5.7.1 relaying denied": every recipient would get
            # the same answer. Blaming each as a bounce would suppress every subscriber.
            transport.reset()
            raise MailServerError(f"mail server refused to relay: {_detail(code, text)}; "
                                  "check smtp_user, smtp_password and the server's relay rules") from None
        else:
            _failed(store, msg, _detail(code, text), counts)
            if store.digests.record_hard_bounce(msg.subscriber_id, settings.bounce_limit):
                counts["suppressed"] += 1
    except smtplib.SMTPSenderRefused as exc:
        if exc.smtp_code == 421:
            transport.reset()
        if 400 <= exc.smtp_code < 500:
            _retry(store, msg, _detail(exc.smtp_code, exc.smtp_error), clock(), counts)
        else:  # our own address is refused: no message can go until the operator fixes mail_from
            transport.reset()
            raise MailServerError(f"mail server refused the sender {sender!r}: "
                                  f"{_detail(exc.smtp_code, exc.smtp_error)}") from None
    except smtplib.SMTPResponseException as exc:  # DATA refused, 421 closing, ...
        if exc.smtp_code == 421 or 400 <= exc.smtp_code < 500:
            if exc.smtp_code == 421:
                transport.reset()
            _retry(store, msg, _detail(exc.smtp_code, exc.smtp_error), clock(), counts)
        else:
            _failed(store, msg, _detail(exc.smtp_code, exc.smtp_error), counts)
            # After DATA only an enhanced code about the address (5.1.x, 5.2.x) blames the recipient.
            if _ADDRESS_FAULT.match(_text(exc.smtp_error)) and store.digests.record_hard_bounce(
                    msg.subscriber_id, settings.bounce_limit):
                counts["suppressed"] += 1
    except (smtplib.SMTPNotSupportedError, UnicodeError, ValueError) as exc:
        _failed(store, msg, f"cannot be sent: {exc}", counts)
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        transport.reset()
        _retry(store, msg, f"connection: {exc}", clock(), counts)
    else:
        store.digests.mark(msg, "sent", now_iso=_iso(clock()), transport="smtp")
        counts["sent"] += 1
        return True
    return False


def _blames_server(code: int, text: bytes | str) -> bool:
    """A permanent refusal that is about us, not the recipient: authentication (530, 5.7.0),
    relaying or policy (5.7.x), or a 5.3.x system problem."""
    enhanced = re.match(r"\s*(5\.\d+\.\d+)", _text(text))
    return code in (530, 535) or bool(enhanced and enhanced.group(1).startswith(("5.7.", "5.3.")))


def _text(text: bytes | str) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else text


def _detail(code: int, text: bytes | str) -> str:
    return f"{code} {_text(text)}"


def _retry(store: Store, msg: OutboxMessage, error: str, now: float, counts: dict[str, int]) -> None:
    delay = min(MAX_BACKOFF, 60.0 * 2 ** max(0, msg.attempts))
    store.digests.mark(msg, "retrying", error=error, next_attempt_at=now + delay)
    counts["retrying"] += 1


def _failed(store: Store, msg: OutboxMessage, detail: str, counts: dict[str, int]) -> None:
    store.digests.mark(msg, "failed", error=detail)
    counts["failed"] += 1
