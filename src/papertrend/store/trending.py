"""SQL for stars and trending, kept apart from the paper queries. Used through Store's methods."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from . import schema as t


@dataclass
class RepoState:
    repo: str
    etag: str | None
    stars: int | None
    status: str
    last_checked: str | None


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

    @property
    def parts(self) -> dict[str, float]:
        return {"star velocity": self.velocity_part, "stars": self.stars_part, "upvotes": self.upvotes_part,
                "comments": self.comments_part}


@dataclass
class Candidate:
    id: str
    list_date: str | None
    upvotes: int
    num_comments: int
    github_stars: int | None
    repo: str | None


def repos_to_check(conn: Connection, checked_before: str, limit: int | None) -> list[RepoState]:
    query = (select(t.repos).where(t.repos.c.status != "gone")
             .where(or_(t.repos.c.last_checked.is_(None), t.repos.c.last_checked <= checked_before))
             .order_by(t.repos.c.last_checked.is_not(None), t.repos.c.last_checked, t.repos.c.repo))
    if limit:
        query = query.limit(limit)
    return [RepoState(r.repo, r.etag, r.stars, r.status, r.last_checked) for r in conn.execute(query)]


def record_repo(conn: Connection, repo: str, status: str, stars: int | None, etag: str | None,
                error: str | None, now: str) -> None:
    values: dict[str, Any] = {"status": status, "last_checked": now, "error": error}
    if stars is not None:
        values["stars"] = stars
    if etag is not None:
        values["etag"] = etag
    conn.execute(update(t.repos).where(t.repos.c.repo == repo).values(values))
    if stars is not None:
        conn.execute(t.repo_stars.insert().values(repo=repo, observed_at=now, stars=stars, source="github"))
        conn.execute(update(t.papers).where(func.lower(t.papers.c.code_url) == f"https://github.com/{repo}")
                     .values(github_stars=stars))


def candidates(conn: Connection, since: str, until: str, active_repos: Sequence[str]) -> list[Candidate]:
    """Papers listed in [since, until], and papers whose repository gained stars then."""
    cols = (t.papers.c.id, t.papers.c.list_date, t.papers.c.upvotes, t.papers.c.num_comments,
            t.papers.c.github_stars, t.papers.c.code_url)
    rows = list(conn.execute(select(*cols).where(and_(t.papers.c.list_date >= since, t.papers.c.list_date <= until))))
    seen = {r.id for r in rows}
    urls = [f"https://github.com/{r}" for r in active_repos]
    for i in range(0, len(urls), 500):
        for r in conn.execute(select(*cols).where(func.lower(t.papers.c.code_url).in_(urls[i:i + 500]))):
            if r.id not in seen and (r.list_date or "") <= until:
                rows.append(r)
                seen.add(r.id)
    out = []
    for r in rows:
        repo = r.code_url[len("https://github.com/"):].lower() if (r.code_url or "").startswith("https://github.com/") else None
        out.append(Candidate(r.id, r.list_date, r.upvotes or 0, r.num_comments or 0, r.github_stars, repo))
    return out


def star_histories(conn: Connection, until: str) -> dict[str, list[tuple[str, int]]]:
    """Every repository's snapshots up to ``until``, oldest first (only repos with two or more)."""
    multi = select(t.repo_stars.c.repo).where(t.repo_stars.c.observed_at <= until).group_by(
        t.repo_stars.c.repo).having(func.count() > 1)
    query = (select(t.repo_stars.c.repo, t.repo_stars.c.observed_at, t.repo_stars.c.stars)
             .where(t.repo_stars.c.repo.in_(multi), t.repo_stars.c.observed_at <= until)
             .order_by(t.repo_stars.c.repo, t.repo_stars.c.observed_at))
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for repo, at, stars in conn.execute(query):
        out[repo].append((at, stars))
    return dict(out)


def replace_window(conn: Connection, window: str, rows: list[dict[str, Any]]) -> None:
    conn.execute(delete(t.trending).where(t.trending.c.window == window))
    if rows:
        conn.execute(t.trending.insert(), rows)


def page(conn: Connection, window: str, category: str | None, has_code: bool, limit: int,
         offset: int = 0) -> list[tuple[str, TrendingRow]]:
    query = (select(t.trending).join(t.papers, t.papers.c.id == t.trending.c.paper_id)
             .where(t.trending.c.window == window).order_by(t.trending.c.rank).limit(limit).offset(offset))
    if has_code:
        query = query.where(t.papers.c.code_url.is_not(None))
    if category:
        query = query.where(t.trending.c.paper_id.in_(
            select(t.paper_categories.c.paper_id).where(t.paper_categories.c.category == category)))
    return [(r.paper_id, TrendingRow(**dict(r._mapping))) for r in conn.execute(query)]


def row(conn: Connection, window: str, paper_id: str) -> TrendingRow | None:
    r = conn.execute(select(t.trending).where(t.trending.c.window == window, t.trending.c.paper_id == paper_id)).first()
    return TrendingRow(**dict(r._mapping)) if r else None
