"""Signals over time: upvote and comment observations, GitHub star snapshots and repositories."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, update

from . import schema as t
from .base import SubStore, lock_name
from .batching import chunks


@dataclass
class Observation:
    observed_at: str
    source: str
    upvotes: int | None = None
    num_comments: int | None = None


@dataclass
class StarSnapshot:
    repo: str
    observed_at: str
    stars: int
    source: str


@dataclass
class RepoState:
    repo: str
    etag: str | None
    stars: int | None
    status: str
    last_checked: str | None


class SignalStore(SubStore):
    """``store.signals``."""

    def observations(self, paper_id: str) -> list[Observation]:
        query = (select(t.paper_signals).where(t.paper_signals.c.paper_id == paper_id)
                 .order_by(t.paper_signals.c.observed_at))
        with self._read() as conn:
            return [Observation(r.observed_at, r.source, r.upvotes, r.num_comments) for r in conn.execute(query)]

    def star_history(self, repo: str) -> list[StarSnapshot]:
        query = (select(t.repo_stars).where(t.repo_stars.c.repo == repo.lower())
                 .order_by(t.repo_stars.c.observed_at))
        with self._read() as conn:
            return [StarSnapshot(r.repo, r.observed_at, r.stars, r.source) for r in conn.execute(query)]

    def star_histories_of(self, repos: Sequence[str]) -> dict[str, list[StarSnapshot]]:
        """The snapshots of several repositories in one query (a trending page shows 50 sparklines)."""
        wanted = sorted({r.lower() for r in repos})
        out: dict[str, list[StarSnapshot]] = {r: [] for r in wanted}
        with self._read() as conn:
            for chunk in chunks(wanted):
                query = (select(t.repo_stars).where(t.repo_stars.c.repo.in_(chunk))
                         .order_by(t.repo_stars.c.repo, t.repo_stars.c.observed_at))
                for r in conn.execute(query):
                    out[r.repo].append(StarSnapshot(r.repo, r.observed_at, r.stars, r.source))
        return out

    def star_histories(self, until: str) -> dict[str, list[tuple[str, int]]]:
        """Every repository's snapshots up to ``until``, oldest first (only repos with two or more)."""
        multi = select(t.repo_stars.c.repo).where(t.repo_stars.c.observed_at <= until).group_by(
            t.repo_stars.c.repo).having(func.count() > 1)
        query = (select(t.repo_stars.c.repo, t.repo_stars.c.observed_at, t.repo_stars.c.stars)
                 .where(t.repo_stars.c.repo.in_(multi), t.repo_stars.c.observed_at <= until)
                 .order_by(t.repo_stars.c.repo, t.repo_stars.c.observed_at))
        out: dict[str, list[tuple[str, int]]] = defaultdict(list)
        with self._read() as conn:
            for repo, at, stars in conn.execute(query):
                out[repo].append((at, stars))
        return dict(out)

    def repos_to_check(self, checked_before: str, limit: int | None = None) -> list[RepoState]:
        """Repositories not checked since ``checked_before``, never-checked ones first."""
        query = (select(t.repos).where(t.repos.c.status != "gone")
                 .where(or_(t.repos.c.last_checked.is_(None), t.repos.c.last_checked <= checked_before))
                 .order_by(t.repos.c.last_checked.is_not(None), t.repos.c.last_checked, t.repos.c.repo))
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            return [RepoState(r.repo, r.etag, r.stars, r.status, r.last_checked) for r in conn.execute(query)]

    def record_repo(self, repo: str, status: str, stars: int | None, etag: str | None, error: str | None) -> None:
        """One repository's answer: its state, a star snapshot, and the papers' current stars."""
        # microseconds: two refreshes in one second are still two snapshots
        now = datetime.now(UTC).isoformat()
        values: dict[str, Any] = {"status": status, "last_checked": now, "error": error}
        if stars is not None:
            values["stars"] = stars
        if etag is not None:
            values["etag"] = etag
        with self._write() as conn:
            # Takes turns with imports, before any row lock: an import batch and this UPDATE of
            # the papers sharing the repository lock those rows in different orders, which on
            # PostgreSQL is a deadlock (one of them killed). SQLite's one writer is already this.
            lock_name(conn, "papers.apply")
            conn.execute(update(t.repos).where(t.repos.c.repo == repo).values(values))
            if stars is not None:
                conn.execute(t.repo_stars.insert().values(repo=repo, observed_at=now, stars=stars, source="github"))
                # last_changed: the paper's page (stars, sparkline) changed, so its ETag must.
                conn.execute(update(t.papers).where(func.lower(t.papers.c.code_url) == f"https://github.com/{repo}")
                             .values(github_stars=stars, last_changed=now))
