"""The store: the only code that speaks SQL. It returns dataclasses, never cursors.

One :class:`Store` per process, built from Settings. SQLite runs in WAL mode with a busy
timeout; every write goes through :meth:`Store.write`, which on SQLite takes the write lock
up front (``BEGIN IMMEDIATE``) so two writers queue instead of failing half-way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (Connection, Engine, bindparam, create_engine, event, func, inspect, select,
                        update)
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..config import Settings
from ..errors import StoreError
from ..models import Author, Paper, SearchFilters
from . import coordination as co
from . import migrations
from . import search as sr
from . import trending as tr
from . import schema as t
from .batching import chunks


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
class IngestRun:
    id: int
    kind: str
    detail: str
    started_at: str
    finished_at: str | None
    status: str
    new: int
    updated: int
    unchanged: int
    rejected: int
    errors: str


@dataclass
class JobRun:
    id: int
    job: str
    scheduled_for: str | None
    started_at: str
    finished_at: str | None
    status: str
    counts: dict[str, Any]
    error: str | None
    worker: str | None


@dataclass
class DayCount:
    date: str
    papers: int


def _make_engine(settings: Settings) -> Engine:
    url = str(settings.database_url)
    if settings.is_sqlite:
        path = settings.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is deferred only).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    """Papers, their signals and provenance, ingest runs. Built from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        try:
            self.engine = _make_engine(settings)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database {settings.database_url}: {exc}") from exc
        from .digests import DigestTables

        self.digests = DigestTables(self)

    # -- connections and schema -------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    def pending_migrations(self) -> list[str]:
        with self.read() as conn:
            return migrations.pending(conn)

    def upgrade(self) -> list[str]:
        try:
            with self.write() as conn:
                return migrations.upgrade(conn)
        except OperationalError as exc:
            raise StoreError(f"cannot migrate {self.settings.database_url}: {exc.orig}") from exc

    def ensure_schema(self) -> list[str]:
        """Create the schema on an empty database; refuse to run on an outdated one."""
        with self.read() as conn:
            empty = not inspect(conn).has_table("schema_migrations")
            pending = migrations.pending(conn)
        if empty:
            return self.upgrade()
        if pending:
            raise StoreError(f"database needs migrations {', '.join(pending)}: run `papertrend db upgrade`")
        return []

    def close(self) -> None:
        self.engine.dispose()

    # -- papers -------------------------------------------------------------------------------

    @staticmethod
    def _paper(row: Any) -> Paper:
        m = row._mapping
        return Paper(
            id=m["id"], title=m["title"], abstract=m["abstract"] or "",
            authors=[Author(a.get("name", ""), a.get("affiliation")) for a in json.loads(m["authors_json"])],
            version=m["version"], categories=json.loads(m["categories_json"]), comment=m["comment"],
            doi=m["doi"], journal_ref=m["journal_ref"], published=m["published"], updated=m["updated"],
            abs_url=m["abs_url"], pdf_url=m["pdf_url"], project_page=m["project_page"],
            code_url=m["code_url"], daily_date=m["daily_date"], list_date=m["list_date"],
            submitter=m["submitter"], organization=m["organization"], ai_summary=m["ai_summary"],
            ai_keywords=json.loads(m["ai_keywords_json"]), upvotes=m["upvotes"] or 0,
            num_comments=m["num_comments"] or 0, github_stars=m["github_stars"],
            trending_score=m["trending_score"], trending_reason=m["trending_reason"],
        )

    @staticmethod
    def paper_row(paper: Paper, metadata_source: str | None, signals_observed_at: str | None) -> dict[str, Any]:
        from ..ids import normalize_title

        return {
            "id": paper.id, "version": paper.version, "title": paper.title,
            "title_key": normalize_title(paper.title), "abstract": paper.abstract,
            "authors_json": json.dumps([a.to_json() for a in paper.authors], ensure_ascii=False),
            "categories_json": json.dumps(paper.categories),
            "primary_category": paper.categories[0] if paper.categories else None,
            "comment": paper.comment, "doi": paper.doi, "journal_ref": paper.journal_ref,
            "published": paper.published, "updated": paper.updated, "abs_url": paper.abs_url,
            "pdf_url": paper.pdf_url, "project_page": paper.project_page, "code_url": paper.code_url,
            "daily_date": paper.daily_date, "list_date": paper.daily_date or paper.published,
            "submitter": paper.submitter, "organization": paper.organization,
            "ai_summary": paper.ai_summary,
            "ai_keywords_json": json.dumps(paper.ai_keywords, ensure_ascii=False),
            "metadata_source": metadata_source, "upvotes": paper.upvotes,
            "num_comments": paper.num_comments, "github_stars": paper.github_stars,
            "signals_observed_at": signals_observed_at,
        }

    def get_paper(self, paper_id: str) -> Paper | None:
        with self.read() as conn:
            row = conn.execute(select(t.papers).where(t.papers.c.id == paper_id)).first()
        return self._paper(row) if row else None

    def get_papers(self, ids: Sequence[str]) -> dict[str, Paper]:
        out: dict[str, Paper] = {}
        with self.read() as conn:
            for chunk in chunks(list(ids)):
                for row in conn.execute(select(t.papers).where(t.papers.c.id.in_(chunk))):
                    out[row.id] = self._paper(row)
        return out

    def merge_state(self, conn: Connection, ids: Sequence[str]) -> dict[str, tuple[Paper, str | None, str | None]]:
        """Papers with the bookkeeping the importer's merge needs (metadata source, last signal time)."""
        out = {}
        for chunk in chunks(list(ids)):
            for row in conn.execute(select(t.papers).where(t.papers.c.id.in_(chunk))):
                out[row.id] = (self._paper(row), row.metadata_source, row.signals_observed_at)
        return out

    def ids_by_title_key(self, conn: Connection, keys: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in chunks(list(keys)):
            query = (select(t.papers.c.title_key, t.papers.c.id).where(t.papers.c.title_key.in_(chunk))
                     .order_by(t.papers.c.id))
            for key, paper_id in conn.execute(query):
                out.setdefault(key, paper_id)
        return out

    def insert_papers(self, conn: Connection, rows: list[dict[str, Any]], now: str) -> None:
        if not rows:
            return
        # A paper that no source dates (a pasted listing) is on no daily list; search finds it.
        conn.execute(t.papers.insert(), [dict(r, first_seen=now, last_changed=now) for r in rows])
        self._replace_categories(conn, rows)

    def update_papers(self, conn: Connection, rows: list[dict[str, Any]], now: str) -> None:
        if not rows:
            return
        cols = [c for c in rows[0] if c != "id"]
        stmt = (update(t.papers).where(t.papers.c.id == bindparam("_id"))
                .values({c: bindparam(c) for c in cols + ["last_changed"]}))
        conn.execute(stmt, [dict(r, _id=r["id"], last_changed=now) for r in rows])
        self._replace_categories(conn, rows)

    def _replace_categories(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in rows]
        for chunk in chunks(ids):
            conn.execute(t.paper_categories.delete().where(t.paper_categories.c.paper_id.in_(chunk)))
        values = [{"paper_id": r["id"], "category": c, "position": i}
                  for r in rows for i, c in enumerate(dict.fromkeys(json.loads(r["categories_json"])))]
        if values:
            conn.execute(t.paper_categories.insert(), values)

    def add_observations(self, conn: Connection, signals: list[dict[str, Any]], stars: list[dict[str, Any]]) -> None:
        """Insert signal observations; ones already recorded (same key) are left as they are."""
        self._insert_new(conn, t.paper_signals, ("paper_id", "source", "observed_at"), signals)
        self._insert_new(conn, t.repo_stars, ("repo", "observed_at", "source"), stars)

    def add_repos(self, conn: Connection, repos: Sequence[str]) -> None:
        """Register code repositories so that `stars refresh` checks them."""
        self._insert_new(conn, t.repos, ("repo",), [{"repo": r, "status": "new"} for r in repos])

    def add_provenance(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        self._insert_new(conn, t.paper_sources, ("paper_id", "source", "ref"), rows)

    def _insert_new(self, conn: Connection, table: Any, key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        unique = {tuple(r[k] for k in key): r for r in rows}
        first = key[0]
        existing: set[tuple[Any, ...]] = set()
        firsts = sorted({k[0] for k in unique})
        for chunk in chunks(firsts):
            cols = [table.c[k] for k in key]
            existing.update(tuple(r) for r in conn.execute(select(*cols).where(table.c[first].in_(chunk))))
        fresh = [r for k, r in unique.items() if k not in existing]
        if fresh:
            conn.execute(table.insert(), fresh)

    def list_papers(self, start: str, end: str, sort: str = "upvotes", limit: int | None = None,
                    offset: int = 0, category: str | None = None) -> list[Paper]:
        """Papers whose list date is in [start, end], most upvoted (or newest) first."""
        query = select(t.papers).where(t.papers.c.list_date >= start, t.papers.c.list_date <= end)
        if category:
            query = query.where(t.papers.c.id.in_(
                select(t.paper_categories.c.paper_id).where(t.paper_categories.c.category == category)))
        if sort == "published":
            query = query.order_by(t.papers.c.published.desc(), t.papers.c.id.desc())
        else:
            query = query.order_by(t.papers.c.upvotes.desc(), t.papers.c.num_comments.desc(), t.papers.c.id.desc())
        if limit is not None:
            query = query.limit(limit).offset(offset)
        with self.read() as conn:
            return [self._paper(r) for r in conn.execute(query)]

    def count_in_range(self, start: str, end: str) -> int:
        with self.read() as conn:
            return conn.execute(select(func.count()).select_from(t.papers).where(
                t.papers.c.list_date >= start, t.papers.c.list_date <= end)).scalar_one()

    def count_papers(self) -> int:
        with self.read() as conn:
            return conn.execute(select(func.count()).select_from(t.papers)).scalar_one()

    def latest_list_date(self) -> str | None:
        with self.read() as conn:
            return conn.execute(select(func.max(t.papers.c.list_date))).scalar_one()

    def neighbour_dates(self, day: str) -> tuple[str | None, str | None]:
        """The nearest list dates with papers before and after ``day``."""
        with self.read() as conn:
            before = conn.execute(select(func.max(t.papers.c.list_date)).where(t.papers.c.list_date < day)).scalar_one()
            after = conn.execute(select(func.min(t.papers.c.list_date)).where(t.papers.c.list_date > day)).scalar_one()
        return before, after

    def day_counts(self, start: str, end: str) -> list[DayCount]:
        query = (select(t.papers.c.list_date, func.count()).where(
            t.papers.c.list_date >= start, t.papers.c.list_date <= end)
            .group_by(t.papers.c.list_date).order_by(t.papers.c.list_date))
        with self.read() as conn:
            return [DayCount(d, n) for d, n in conn.execute(query)]

    def data_version(self) -> str:
        """Changes whenever papers change: a cheap validator for HTTP caching."""
        with self.read() as conn:
            count, changed = conn.execute(select(func.count(), func.max(t.papers.c.last_changed))).one()
            runs = conn.execute(select(func.max(t.ingest_runs.c.id))).scalar_one()
        return f"{count}-{changed}-{runs}"

    def observations(self, paper_id: str) -> list[Observation]:
        query = (select(t.paper_signals).where(t.paper_signals.c.paper_id == paper_id)
                 .order_by(t.paper_signals.c.observed_at))
        with self.read() as conn:
            return [Observation(r.observed_at, r.source, r.upvotes, r.num_comments) for r in conn.execute(query)]

    def star_history(self, repo: str) -> list[StarSnapshot]:
        query = (select(t.repo_stars).where(t.repo_stars.c.repo == repo.lower())
                 .order_by(t.repo_stars.c.observed_at))
        with self.read() as conn:
            return [StarSnapshot(r.repo, r.observed_at, r.stars, r.source) for r in conn.execute(query)]

    def sources_of(self, paper_id: str) -> list[dict[str, Any]]:
        query = (select(t.paper_sources.c.source, t.paper_sources.c.ref, t.paper_sources.c.first_seen)
                 .where(t.paper_sources.c.paper_id == paper_id).order_by(t.paper_sources.c.first_seen))
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- search (SQL in store/search.py) ------------------------------------------------------------

    def fulltext(self, match: str, filters: SearchFilters, limit: int,
                 field_weights: tuple[float, ...] = sr.FTS_WEIGHTS, by_rowid: bool = False) -> list[tuple[Any, float]]:
        """(paper id, or rowid, and bm25 score, higher is better) for an FTS5 MATCH expression."""
        if not self.settings.is_sqlite:
            raise StoreError("full-text search on PostgreSQL is not implemented yet")
        with self.read() as conn:
            return sr.fts_search(conn, match, filters, limit, field_weights, by_rowid)

    def fulltext_sql(self, match: str, filters: SearchFilters, limit: int) -> tuple[str, dict[str, Any]]:
        # Named parameters read better than "?" when a person looks at the SQL.
        compiled = sr.fts_statement(match, filters, limit).compile()
        return " ".join(str(compiled).split()), dict(compiled.params)

    def filter_ids(self, ids: Sequence[str], filters: SearchFilters) -> set[str]:
        with self.read() as conn:
            return sr.filter_ids(conn, list(ids), filters)

    def text_changes_after(self, seq: int, limit: int) -> list[tuple[int, int, tuple[str, ...] | None]]:
        with self.read() as conn:
            return sr.text_changes_after(conn, seq, limit)

    def text_log_top(self) -> int:
        """The newest change to searchable text: an index lookup, cheap enough for every search."""
        with self.read() as conn:
            return sr.text_log_top(conn)

    def ids_for_rowids(self, rowids: Sequence[int], filters: SearchFilters = SearchFilters()) -> dict[int, str]:
        with self.read() as conn:
            return sr.ids_for_rowids(conn, list(rowids), filters)

    def titles_and_abstracts(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, abstract) by paper id, for up to a few hundred ids: no other column is read."""
        with self.read() as conn:
            return sr.titles_and_abstracts(conn, list(ids))

    def fulltext_titles(self, rowids: Sequence[int]) -> dict[int, str]:
        """Titles as indexed, by rowid."""
        with self.read() as conn:
            return sr.fts_titles(conn, list(rowids))

    def fulltext_rowids(self, match: str, limit: int) -> list[int]:
        with self.read() as conn:
            return sr.fts_rowids(conn, match, limit)

    def texts_to_embed(self, model: str, limit: int | None = None) -> list[tuple[str, str, str, str | None]]:
        with self.read() as conn:
            return sr.texts_to_embed(conn, model, limit)

    def save_vectors(self, rows: list[dict[str, Any]]) -> None:
        with self.write() as conn:
            sr.save_vectors(conn, rows)

    def vectors_after(self, model: str, seq: int, limit: int | None = None) -> list[tuple[int, str, bytes]]:
        with self.read() as conn:
            return sr.vectors_after(conn, model, seq, limit)

    def vector_top_seq(self) -> int:
        with self.read() as conn:
            return sr.vector_top_seq(conn)

    def vector_count(self, model: str) -> tuple[int, int]:
        with self.read() as conn:
            return sr.vector_count(conn, model)

    # -- stars and trending (SQL in store/trending.py) ----------------------------------------------

    def repos_to_check(self, checked_before: str, limit: int | None = None) -> list[tr.RepoState]:
        with self.read() as conn:
            return tr.repos_to_check(conn, checked_before, limit)

    def record_repo(self, repo: str, status: str, stars: int | None, etag: str | None, error: str | None) -> None:
        """One repository's answer: its state, a star snapshot, and the papers' current stars."""
        with self.write() as conn:
            # microseconds: two refreshes in one second are still two snapshots
            tr.record_repo(conn, repo, status, stars, etag, error, datetime.now(UTC).isoformat())

    def star_histories(self, until: str) -> dict[str, list[tuple[str, int]]]:
        with self.read() as conn:
            return tr.star_histories(conn, until)

    def trending_candidates(self, since: str, until: str, active_repos: Sequence[str]) -> list[tr.Candidate]:
        with self.read() as conn:
            return tr.candidates(conn, since, until, active_repos)

    def save_trending(self, window: str, rows: list[dict[str, Any]]) -> None:
        with self.write() as conn:
            tr.replace_window(conn, window, rows)

    def trending(self, window: str, category: str | None = None, has_code: bool = False,
                 limit: int = 50, offset: int = 0) -> list[tuple[Paper, tr.TrendingRow]]:
        with self.read() as conn:
            ranked = tr.page(conn, window, category, has_code, limit, offset)
        papers = self.get_papers([pid for pid, _ in ranked])
        return [(papers[pid], row) for pid, row in ranked if pid in papers]

    def trending_row(self, window: str, paper_id: str) -> tr.TrendingRow | None:
        with self.read() as conn:
            return tr.row(conn, window, paper_id)

    # -- coordination between processes (SQL in store/coordination.py) --------------------------

    def take_slot(self, name: str, now: float, hold: float, holder: str) -> float:
        with self.write() as conn:
            return co.take_slot(conn, name, now, hold, holder)

    def release_slot(self, name: str, next_at: float) -> None:
        with self.write() as conn:
            co.release_slot(conn, name, next_at)

    def get_cursor(self, name: str) -> dict[str, Any] | None:
        with self.read() as conn:
            return co.get_cursor(conn, name)

    def set_cursor(self, name: str, value: dict[str, Any] | None) -> None:
        with self.write() as conn:
            co.set_cursor(conn, name, value, utcnow())

    def take_job_lock(self, job: str, holder: str, now: float, lease: float) -> bool:
        with self.write() as conn:
            return co.take_job_lock(conn, job, holder, now, lease)

    def release_job_lock(self, job: str, holder: str) -> None:
        with self.write() as conn:
            co.release_job_lock(conn, job, holder)

    def start_job_run(self, job: str, scheduled_for: str | None, worker: str, started_at: str) -> int:
        with self.write() as conn:
            result = conn.execute(t.job_runs.insert().values(job=job, scheduled_for=scheduled_for, started_at=started_at,
                                                             status="running", counts="{}", worker=worker))
            return int(result.inserted_primary_key[0])

    def finish_job_run(self, run_id: int, status: str, counts: dict[str, Any], error: str | None, finished_at: str) -> None:
        with self.write() as conn:
            conn.execute(update(t.job_runs).where(t.job_runs.c.id == run_id).values(
                status=status, counts=json.dumps(counts), error=(error or "")[:4000] or None, finished_at=finished_at))

    def job_runs(self, job: str | None = None, limit: int = 50) -> list[JobRun]:
        query = select(t.job_runs).order_by(t.job_runs.c.id.desc()).limit(limit)
        if job:
            query = query.where(t.job_runs.c.job == job)
        with self.read() as conn:
            return [JobRun(**{**dict(r._mapping), "counts": json.loads(r.counts or "{}")}) for r in conn.execute(query)]

    def last_scheduled_run(self, job: str) -> str | None:
        with self.read() as conn:
            return conn.execute(select(func.max(t.job_runs.c.scheduled_for)).where(t.job_runs.c.job == job)).scalar_one()

    # -- ingest runs ----------------------------------------------------------------------------

    def start_run(self, kind: str, detail: str) -> int:
        with self.write() as conn:
            result = conn.execute(t.ingest_runs.insert().values(kind=kind, detail=detail[:2000], started_at=utcnow(),
                                                                status="running"))
            return int(result.inserted_primary_key[0])

    def finish_run(self, run_id: int, status: str, new: int, updated: int, unchanged: int, rejected: int,
                   errors: Iterable[str]) -> None:
        with self.write() as conn:
            conn.execute(update(t.ingest_runs).where(t.ingest_runs.c.id == run_id).values(
                finished_at=utcnow(), status=status, new=new, updated=updated, unchanged=unchanged,
                rejected=rejected, errors="\n".join(list(errors)[:200])))

    def ingest_runs(self, limit: int = 50) -> list[IngestRun]:
        query = select(t.ingest_runs).order_by(t.ingest_runs.c.id.desc()).limit(limit)
        with self.read() as conn:
            return [IngestRun(**dict(r._mapping)) for r in conn.execute(query)]
