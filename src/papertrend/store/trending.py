"""The trending ranking as stored: one row per window and paper, with the score's parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, delete, func, select

from ..models import Paper
from . import schema as t
from .base import SubStore, lock_name
from .batching import chunks
from .community import visible_papers


@dataclass
class TrendingRow:
    window: str
    paper_id: str
    rank: int
    score: float
    velocity_part: float
    stars_part: float
    upvotes_part: float
    comments_part: float
    decay: float
    stars_gained: int | None
    gain_days: float | None
    age_days: float
    anchor: str
    computed_at: str
    reason: str
    overall_rank: int | None = None   # the rank in the whole window when ``rank`` is inside a filter
    local_part: float = 0.0
    local_votes: float = 0.0

    @property
    def parts(self) -> dict[str, float]:
        return {"star velocity": self.velocity_part, "stars": self.stars_part, "upvotes": self.upvotes_part,
                "upvotes here": self.local_part, "comments": self.comments_part}


@dataclass
class Candidate:
    id: str
    list_date: str | None
    upvotes: int
    num_comments: int
    github_stars: int | None
    repo: str | None


class TrendingStore(SubStore):
    """``store.trending``: the stored ranking of each window, and what the recompute reads."""

    def candidates(self, since: str, until: str, active_repos: Sequence[str]) -> list[Candidate]:
        """Papers listed in [since, until], and papers whose repository gained stars then."""
        cols = (t.papers.c.id, t.papers.c.list_date, t.papers.c.upvotes, t.papers.c.num_comments,
                t.papers.c.github_stars, t.papers.c.code_url)
        with self._read() as conn:
            rows = list(conn.execute(select(*cols).where(and_(t.papers.c.list_date >= since,
                                                              t.papers.c.list_date <= until), visible_papers())))
            seen = {r.id for r in rows}
            urls = [f"https://github.com/{r}" for r in active_repos]
            for chunk in chunks(urls, 500):
                for r in conn.execute(select(*cols).where(func.lower(t.papers.c.code_url).in_(chunk),
                                                          visible_papers())):
                    if r.id not in seen and (r.list_date or "") <= until:
                        rows.append(r)
                        seen.add(r.id)
        return [_candidate(r) for r in rows]

    def save(self, window: str, rows: list[dict[str, Any]]) -> None:
        """Replace a window's ranking."""
        with self._write() as conn:
            # Two recomputes at once (two importers, the worker and an import) take turns: on
            # PostgreSQL the second's DELETE waits for the first's rows, then misses the rows the
            # first inserted, and its INSERT hit them (a duplicate key). SQLite has one writer.
            lock_name(conn, f"trending.save:{window}")
            conn.execute(delete(t.trending).where(t.trending.c.window == window))
            if rows:
                conn.execute(t.trending.insert(), rows)

    def page(self, window: str, category: str | None = None, has_code: bool = False, limit: int = 50,
             offset: int = 0) -> list[tuple[Paper, TrendingRow]]:
        """A window's papers in rank order, optionally only a category's or those with code.
        Each row's ``rank`` is its place in this list (1, 2, 3... inside a filter) and
        ``overall_rank`` its place in the whole window."""
        query = (self._filtered(select(t.trending), window, category, has_code)
                 .order_by(t.trending.c.rank).limit(limit).offset(offset))
        with self._read() as conn:
            ranked = [(r.paper_id, TrendingRow(**dict(r._mapping))) for r in conn.execute(query)]
        for place, (_, row) in enumerate(ranked, start=offset + 1):
            row.overall_rank, row.rank = row.rank, place
        papers = self._store.papers.get_many([pid for pid, _ in ranked])
        return [(papers[pid], row) for pid, row in ranked if pid in papers]

    def count(self, window: str, category: str | None = None, has_code: bool = False) -> int:
        """How many papers :meth:`page` pages through."""
        query = self._filtered(select(func.count()).select_from(t.trending), window, category, has_code)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def categories(self, window: str) -> list[tuple[str, int]]:
        """The categories of a window's ranked papers with how many each has, most first."""
        n = func.count().label("n")
        query = (select(t.paper_categories.c.category, n)
                 .join(t.trending, t.trending.c.paper_id == t.paper_categories.c.paper_id)
                 .where(t.trending.c.window == window,
                        t.trending.c.paper_id.not_in(select(t.hidden_papers.c.paper_id)))
                 .group_by(t.paper_categories.c.category).order_by(n.desc(), t.paper_categories.c.category))
        with self._read() as conn:
            return [(r.category, int(r.n)) for r in conn.execute(query)]

    @staticmethod
    def _filtered(query: Select[Any], window: str, category: str | None, has_code: bool) -> Select[Any]:
        query = query.where(t.trending.c.window == window,
                            t.trending.c.paper_id.not_in(select(t.hidden_papers.c.paper_id)))  # moderated away
        if has_code:
            query = query.where(t.trending.c.paper_id.in_(
                select(t.papers.c.id).where(t.papers.c.code_url.is_not(None))))
        if category:
            query = query.where(t.trending.c.paper_id.in_(
                select(t.paper_categories.c.paper_id).where(t.paper_categories.c.category == category)))
        return query

    def row(self, window: str, paper_id: str) -> TrendingRow | None:
        with self._read() as conn:
            r = conn.execute(select(t.trending).where(t.trending.c.window == window,
                                                      t.trending.c.paper_id == paper_id)).first()
        return TrendingRow(**dict(r._mapping)) if r else None


def _candidate(r: Any) -> Candidate:
    prefix = "https://github.com/"
    repo = r.code_url[len(prefix):].lower() if (r.code_url or "").startswith(prefix) else None
    return Candidate(r.id, r.list_date, r.upvotes or 0, r.num_comments or 0, r.github_stars, repo)

