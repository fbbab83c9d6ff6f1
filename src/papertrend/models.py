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


@dataclass
class PaperRecord:
    """One paper as one source describes it: what parsers return and the importer stores.

    Every field but ``source``, ``where`` and ``title`` may be missing: sources differ.
    ``id`` is None when the source has no identifier (a pasted listing); the importer then
    matches the title against known papers or gives it a local id.
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
    daily_date: str | None = None     # date it was on the Hugging Face daily list
    submitter: str | None = None
    organization: str | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    # Signals, as observed at ``observed_at`` by this source.
    observed_at: str | None = None
    upvotes: int | None = None
    num_comments: int | None = None
    github_stars: int | None = None
    raw: dict[str, Any] | None = None  # the source's own record, kept for provenance


@dataclass
class Paper:
    """A paper as the store knows it, merged from every source."""

    id: str
    title: str
    abstract: str = ""
    authors: list[Author] = field(default_factory=list)
    version: int | None = None
    categories: list[str] = field(default_factory=list)
    comment: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    published: str | None = None
    updated: str | None = None
    abs_url: str | None = None
    pdf_url: str | None = None
    project_page: str | None = None
    code_url: str | None = None
    daily_date: str | None = None
    list_date: str | None = None
    submitter: str | None = None
    organization: str | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    upvotes: int = 0
    num_comments: int = 0
    github_stars: int | None = None
    trending_score: float | None = None
    trending_reason: str | None = None

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
        data = dataclasses.asdict(self)
        data["authors"] = [a.to_json() for a in self.authors]
        return data


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


@dataclass
class OutboxMessage:
    id: int
    subscriber_id: int
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
