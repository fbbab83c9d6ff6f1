"""Composing messages: the confirmation and the digest, as complete RFC 5322 bytes.

Paper text goes only into bodies (escaped in HTML); headers are built from our own words and the
address, and the email package refuses CR/LF in any header value, so no title can inject one.
Unicode in the subject is RFC 2047-encoded by the email package.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlparse

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..config import Settings
from ..mathtext import plain
from ..models import Paper, Subscriber
from ..periods import Period
from .links import link

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True,
                   lstrip_blocks=True)
# Formulas in titles and abstracts go to mail as Unicode text (SP$^3$ -> SP³), not MathML: Gmail
# and Outlook drop MathML elements and keep their bare text ("SP3"), and the text part has no markup.
_env.filters["plain"] = plain


@dataclass
class Composed:
    message_id: str
    subject: str
    raw: bytes


def _domain(settings: Settings) -> str:
    return urlparse(settings.base_url).hostname or "localhost"


def message_id(settings: Settings, kind: str, subscriber_id: int, period: str) -> str:
    """Deterministic per (subscriber, period): a resent message is recognisably the same one."""
    digest = hashlib.sha1(f"{kind}:{subscriber_id}:{period}".encode()).hexdigest()[:16]
    return f"<{kind}.{period}.{subscriber_id}.{digest}@{_domain(settings)}>"


def _message(settings: Settings, to: str, subject: str, text: str, html: str, msg_id: str,
             unsubscribe: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = msg_id
    msg["List-Id"] = f"{settings.site_name} digests <digests.{_domain(settings)}>"
    if unsubscribe:
        # RFC 8058: a POST to this URL unsubscribes at once, no login.
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    # CRLF line ends, as SMTP wants them; an address with a non-ASCII local part can only travel
    # as UTF-8 (SMTPUTF8), never as an encoded word.
    return msg.as_bytes(policy=policy.SMTP if to.isascii() else policy.SMTPUTF8)


def confirmation(settings: Settings, subscriber: Subscriber, nonce: str) -> Composed:
    expires = datetime.fromisoformat(subscriber.expires_at).timestamp() if subscriber.expires_at else None
    confirm = link(settings, "/subscribe/confirm", "confirm", subscriber, expires)
    ctx = {"site": settings.site_name, "confirm": confirm, "frequency": subscriber.frequency}
    subject = f"Confirm your {settings.site_name} subscription"
    msg_id = message_id(settings, "confirm", subscriber.id, nonce)
    raw = _message(settings, subscriber.email, subject, _env.get_template("confirm.txt").render(**ctx),
                   _env.get_template("confirm.html").render(**ctx), msg_id, None)
    return Composed(msg_id, subject, raw)


def signin(settings: Settings, email: str, link: str, minutes: int, nonce: str) -> Composed:
    """The sign-in mail: a single-use link, to an address that may have no account yet."""
    ctx = {"site": settings.site_name, "email": email, "link": link, "minutes": minutes}
    subject = f"Sign in to {settings.site_name}"
    msg_id = f"<signin.{nonce}@{_domain(settings)}>"
    raw = _message(settings, email, subject, _env.get_template("signin.txt").render(**ctx),
                   _env.get_template("signin.html").render(**ctx), msg_id, None)
    return Composed(msg_id, subject, raw)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@dataclass
class Candidate:
    """A paper with what interest matching needs, computed once per build, not per subscriber."""

    paper: Paper
    words: set[str]
    names: set[str]
    categories: set[str]

    @classmethod
    def of(cls, paper: Paper) -> "Candidate":
        return cls(paper, _words(f"{paper.title} {paper.abstract} {' '.join(paper.ai_keywords)}"),
                   {a.name.lower() for a in paper.authors}, set(paper.categories))


@dataclass
class Interests:
    """A subscriber's interests, prepared once per build."""

    topics: list[set[str]]
    authors: set[str]
    categories: set[str]

    @classmethod
    def of(cls, subscriber: Subscriber) -> "Interests":
        return cls([w for w in (_words(t) for t in subscriber.topics) if w],
                   {a.lower() for a in subscriber.authors}, set(subscriber.categories))

    @property
    def everything(self) -> bool:
        return not (self.topics or self.authors or self.categories)


def matches(c: Candidate, interests: Interests) -> bool:
    """Interests are alternatives: a topic phrase, an author or a category; none means everything."""
    if interests.everything:
        return True
    if c.categories & interests.categories or c.names & interests.authors:
        return True
    return any(topic <= c.words for topic in interests.topics)


def digest(settings: Settings, subscriber: Subscriber, period: Period, papers: list[Paper]) -> Composed:
    base = settings.base_url.rstrip("/")
    prefs = link(settings, "/preferences", "prefs", subscriber)
    unsubscribe = link(settings, "/unsubscribe", "unsub", subscriber)
    label = period.label
    ctx = {"site": settings.site_name, "papers": papers, "base": base, "prefs": prefs, "unsubscribe": unsubscribe,
           "label": label, "frequency": subscriber.frequency}
    n = len(papers)
    subject = f"{settings.site_name}: {n} trending paper{'' if n == 1 else 's'} · {label}"
    msg_id = message_id(settings, "digest", subscriber.id, period.key)
    raw = _message(settings, subscriber.email, subject, _env.get_template("digest.txt").render(**ctx),
                   _env.get_template("digest.html").render(**ctx), msg_id, unsubscribe)
    return Composed(msg_id, subject, raw)


# Per-subscriber parts of a digest body; ASCII marks that no template or paper text produces.
_PREFS, _UNSUB = "@@papertrend-prefs@@", "@@papertrend-unsubscribe@@"
SMTP_MAX_LINE = 990


class DigestTemplate:
    """One rendering of a digest for everyone who gets the same papers: the body is built once
    (8bit, so the marks survive verbatim) and each subscriber's links and headers are put in
    as bytes. Far cheaper than building a MIME message per subscriber, and the same bytes."""

    def __init__(self, settings: Settings, period: Period, papers: list[Paper]) -> None:
        self.settings, self.period = settings, period
        ctx = {"site": settings.site_name, "papers": papers, "base": settings.base_url.rstrip("/"),
               "prefs": _PREFS, "unsubscribe": _UNSUB, "label": period.label, "frequency": ""}
        n = len(papers)
        self.subject = f"{settings.site_name}: {n} trending paper{'' if n == 1 else 's'} · {period.label}"
        msg = EmailMessage()
        msg["From"] = settings.mail_from
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(usegmt=True)
        msg["List-Id"] = f"{settings.site_name} digests <digests.{_domain(settings)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(_env.get_template("digest.txt").render(**ctx), cte="8bit")
        msg.add_alternative(_env.get_template("digest.html").render(**ctx), subtype="html", cte="8bit")
        raw = msg.as_bytes(policy=policy.SMTP)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.head, self.body = head, body
        # SMTP allows 998 bytes a line: a very long title makes this template unusable.
        self.usable = max(len(line) for line in raw.split(b"\r\n")) <= SMTP_MAX_LINE - 120

    def render(self, subscriber: Subscriber) -> Composed:
        prefs = link(self.settings, "/preferences", "prefs", subscriber)
        unsubscribe = link(self.settings, "/unsubscribe", "unsub", subscriber)
        msg_id = message_id(self.settings, "digest", subscriber.id, self.period.key)
        # Addresses were validated as plain ASCII without spaces or line breaks at subscription.
        own = (f"To: {subscriber.email}\r\nMessage-ID: {msg_id}\r\n"
               f"List-Unsubscribe: <{unsubscribe}>\r\n").encode("ascii")
        body = self.body.replace(_PREFS.encode(), prefs.encode()).replace(_UNSUB.encode(), unsubscribe.encode())
        return Composed(msg_id, self.subject, own + self.head + b"\r\n\r\n" + body)


def previous_period(frequency: str, today: date) -> Period:
    """The period a digest sent today covers: yesterday, or last ISO week."""
    from ..periods import period_containing

    if frequency == "weekly":
        return period_containing("week", today - timedelta(days=7))
    return period_containing("date", today - timedelta(days=1))
