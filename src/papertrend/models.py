"""Plain dataclasses that flow between the layers. They import nothing of ours."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Author:
    name: str
    affiliation: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.affiliation:
            out["affiliation"] = self.affiliation
        return out


# -- a paper's fields, declared once ------------------------------------------------------------
#
# ``Paper`` below is the one declaration of what a paper has. Each field carries how it is merged
# (``role``) and how it is stored (``kind``); the papers table (store/schema.py), the row <->
# Paper conversion (store/papers.py), the importer's merge (ingest/importer.py) and the JSON
# (``Paper.to_json``) are derived from it, and tests/test_model.py checks that ``PaperRecord``
# and the migrated database agree with it. Adding a field: see ARCHITECTURE.md.

ROLES = ("key", "version", "metadata", "daily", "signal", "derived")
"""How the importer merges a field:

- ``metadata``: describes the paper; the most trusted source wins (arXiv over aggregators), a
  newer version updates it, ties keep what is stored.
- ``daily``: what a daily list says about it (submitter, summary, code); the newest observation wins.
- ``signal``: a count observed at a time (upvotes, comments, stars); the newest observation wins.
- ``derived``: computed when stored, never given by a source.
"""

KINDS = ("id", "text", "date", "int", "json")


def _f(role: str, kind: str, default: Any = None, factory: Any = None) -> Any:
    meta = {"role": role, "kind": kind}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


_REQUIRED = dataclasses.MISSING


@dataclass
class Paper:
    """A paper as the store knows it, merged from every source."""

    id: str = _f("key", "id", _REQUIRED)
    title: str = _f("metadata", "text", _REQUIRED)
    abstract: str = _f("metadata", "text", "")
    authors: list[Author] = _f("metadata", "json", factory=list)
    version: int | None = _f("version", "int")
    categories: list[str] = _f("metadata", "json", factory=list)
    comment: str | None = _f("metadata", "text")
    doi: str | None = _f("metadata", "text")
    journal_ref: str | None = _f("metadata", "text")
    published: str | None = _f("metadata", "date")     # ISO date
    updated: str | None = _f("metadata", "date")
    abs_url: str | None = _f("metadata", "text")
    pdf_url: str | None = _f("metadata", "text")
    project_page: str | None = _f("daily", "text")
    code_url: str | None = _f("daily", "text")
    daily_date: str | None = _f("daily", "date")       # the day it was on the Hugging Face daily list
    list_date: str | None = _f("derived", "date")      # the day lists show it on: daily_date or published
    submitter: str | None = _f("daily", "text")
    organization: str | None = _f("daily", "text")
    ai_summary: str | None = _f("daily", "text")
    ai_keywords: list[str] = _f("daily", "json", factory=list)
    thumbnail_url: str | None = _f("daily", "text")   # the source's picture of it (HF's social thumbnail)
    upvotes: int = _f("signal", "int", 0)
    num_comments: int = _f("signal", "int", 0)
    github_stars: int | None = _f("signal", "int")

    @property
    def is_arxiv(self) -> bool:
        return not self.id.startswith("pt-")

    @property
    def code_repo(self) -> str | None:
        """``owner/name`` for a GitHub code link."""
        if not self.code_url:
            return None
        prefix = "https://github.com/"
        return self.code_url[len(prefix):] if self.code_url.startswith(prefix) else None

    def to_json(self) -> dict[str, Any]:
        """Every declared field; lists copied, not ``dataclasses.asdict``'s recursive deep copy
        (70 µs a paper: 2 ms to encode 30 search results)."""
        data = {f.name: getattr(self, f.name) for f in PAPER_FIELDS}
        data["authors"] = [a.to_json() for a in self.authors]
        data["categories"] = list(self.categories)
        data["ai_keywords"] = list(self.ai_keywords)
        return data


PAPER_FIELDS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(Paper)


def paper_fields(*roles: str, kind: str | None = None) -> tuple[str, ...]:
    """Names of the paper's fields with one of ``roles`` (any role when none is given) and,
    when given, of storage ``kind``."""
    return tuple(f.name for f in PAPER_FIELDS
                 if (not roles or f.metadata["role"] in roles) and (kind is None or f.metadata["kind"] == kind))


def field_kind(name: str) -> str:
    return str(next(f.metadata["kind"] for f in PAPER_FIELDS if f.name == name))


@dataclass
class PaperRecord:
    """One paper as one source describes it: what parsers return and the importer stores.

    Its paper fields are ``Paper``'s that a source can give (every role but ``key`` and
    ``derived``); a test checks that they match. Every field but ``source``, ``where`` and
    ``title`` may be missing: sources differ. ``id`` is None when the source has no identifier
    (a pasted listing); the importer then matches the title against known papers or gives it a
    local id.
    """

    source: str
    where: str
    title: str
    id: str | None = None
    version: int | None = None
    abstract: str | None = None
    authors: list[Author] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    comment: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    published: str | None = None      # ISO date or datetime
    updated: str | None = None
    abs_url: str | None = None
    pdf_url: str | None = None
    project_page: str | None = None
    code_url: str | None = None
    daily_date: str | None = None
    submitter: str | None = None
    organization: str | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    thumbnail_url: str | None = None
    # Signals, as observed at ``observed_at`` by this source.
    observed_at: str | None = None
    upvotes: int | None = None
    num_comments: int | None = None
    github_stars: int | None = None
    raw: dict[str, Any] | None = None  # the source's own record, kept for provenance


RECORD_ONLY_FIELDS = ("source", "where", "observed_at", "raw")


@dataclass
class ImportSummary:
    """What one import run did; ``errors`` are human-readable and name file and line."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    run_id: int | None = None

    def add(self, other: "ImportSummary") -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.errors.extend(other.errors)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SearchFilters:
    """Narrowing a search: by list date, arXiv category, linked code, upvotes."""

    date_from: str | None = None
    date_to: str | None = None
    category: str | None = None
    has_code: bool = False
    min_upvotes: int = 0

    def __post_init__(self) -> None:
        # No paper has 2^31 upvotes; a larger bound (2^63 overflows SQLite's integers) means the same.
        object.__setattr__(self, "min_upvotes", max(0, min(self.min_upvotes, 2**31 - 1)))

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to or self.category or self.has_code or self.min_upvotes)


@dataclass
class Subscriber:
    id: int
    email: str
    status: str                      # pending, confirmed, unsubscribed, suppressed
    frequency: str = "daily"         # daily or weekly
    topics: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    paused: bool = False
    hard_bounces: int = 0
    created_at: str = ""
    confirmed_at: str | None = None
    expires_at: str | None = None
    link_secret: str | None = field(default=None, repr=False)   # binds mailed links; see digest/links.py


@dataclass
class OutboxMessage:
    id: int
    subscriber_id: int | None        # None for mail to an account that is not a subscriber (sign-in)
    kind: str
    period: str
    message_id: str
    to_addr: str
    raw: bytes
    subject: str
    status: str
    attempts: int
    last_error: str | None
    transport: str | None
    created_at: str
    sent_at: str | None
    claim: str | None = None         # the token of the sender that claimed it (only it may mark it)


ROLE_ORDER = ("reader", "moderator", "admin")


@dataclass
class User:
    """An account. Signing in proves the address; there is no password."""

    id: int
    email: str
    name: str
    role: str = "reader"          # reader, moderator, admin
    status: str = "active"        # active, suspended
    session_epoch: int = 0        # sessions signed with an older epoch are over
    created_at: str = ""
    last_signed_in: str | None = None

    def has_role(self, role: str) -> bool:
        """Admins can do what moderators can, and moderators what readers can."""
        return self.status == "active" and ROLE_ORDER.index(self.role) >= ROLE_ORDER.index(role)
