"""Papers: reading lists and pages, and the importer's one write path (``apply``).

Rows and ``Paper`` objects convert into each other by the one declaration of a paper's fields
(``models.PAPER_FIELDS``): nothing here names a paper field one by one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from ..ids import normalize_title
from ..models import PAPER_FIELDS, Author, Paper
from . import schema as t
from .base import SubStore, insert_new, lock_name
from .batching import chunks
from .search import index_pending_terms

# (paper, the source whose metadata it keeps, when its signals were observed)
MergeState = tuple[Paper, str | None, str | None]

_JSON_FIELDS = {f.name for f in PAPER_FIELDS if f.metadata["kind"] == "json"}
# (field, column, default for NULL) worked out once: converting rows is on every page's path
# (30 papers a search), where looking the declaration up per field cost 5 ms a search.
_READ_PLAN = [(f.name, t.paper_column_name(f.name), f.default if f.default not in (None, dataclasses.MISSING)
               else None) for f in PAPER_FIELDS]


def paper_from_row(row: Any) -> Paper:
    m = row._mapping
    values: dict[str, Any] = {}
    for name, column, default in _READ_PLAN:
        value = m[column]
        if name in _JSON_FIELDS:
            value = json.loads(value or "[]")
            if name == "authors":
                value = [Author(a.get("name", ""), a.get("affiliation")) for a in value]
        elif value is None and default is not None:
            value = default  # NULL in a row for a field with a default (0, "")
        values[name] = value
    return Paper(**values)


def paper_to_row(paper: Paper, metadata_source: str | None, signals_observed_at: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, column, _ in _READ_PLAN:
        value = getattr(paper, name)
        if name == "authors":
            value = json.dumps([a.to_json() for a in value], ensure_ascii=False)
        elif name in _JSON_FIELDS:
            value = json.dumps(list(value), ensure_ascii=False)
        row[column] = value
    # Derived fields and bookkeeping. A paper that no source dates (a pasted listing) has no
    # list date: it is on no daily list, and search still finds it.
    row["list_date"] = paper.daily_date or paper.published
    row["title_key"] = normalize_title(paper.title)
    row["primary_category"] = paper.categories[0] if paper.categories else None
    row["metadata_source"] = metadata_source
    row["signals_observed_at"] = signals_observed_at
    return row


@dataclass
class PaperWrites:
    """What one import batch writes, in one transaction."""

    new: list[MergeState] = field(default_factory=list)
    changed: list[MergeState] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)     # paper_signals rows
    stars: list[dict[str, Any]] = field(default_factory=list)       # repo_stars rows
    repos: list[str] = field(default_factory=list)                  # owner/name, lower case
    provenance: list[dict[str, Any]] = field(default_factory=list)  # paper_sources rows


class BatchReader:
    """Reads inside the transaction of :meth:`PaperStore.apply`, so that what the importer
    decides from them is written before any other writer can change them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def ids_by_title_key(self, keys: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in chunks(list(keys)):
            query = (select(t.papers.c.title_key, t.papers.c.id).where(t.papers.c.title_key.in_(chunk))
                     .order_by(t.papers.c.id))
            for key, paper_id in self._conn.execute(query):
                out.setdefault(key, paper_id)
        return out

    def merge_state(self, ids: Sequence[str]) -> dict[str, MergeState]:
        """Papers with the bookkeeping the importer's merge needs."""
        out = {}
        for chunk in chunks(list(ids)):
            for row in self._conn.execute(select(t.papers).where(t.papers.c.id.in_(chunk))):
                out[row.id] = (paper_from_row(row), row.metadata_source, row.signals_observed_at)
        return out


@dataclass
class DayCount:
    date: str
    papers: int


class PaperStore(SubStore):
    """``store.papers``."""

    def apply(self, plan: Callable[[BatchReader], PaperWrites], now: str) -> PaperWrites:
        """Run ``plan`` against the stored state and write what it returns, in one transaction."""
        with self._write() as conn:
            # The plan reads what is stored and decides: importers take turns, as SQLite's one
            # writer makes them, or two could both find a paper new and both insert it.
            lock_name(conn, "papers.apply")
            writes = plan(BatchReader(conn))
            new = [paper_to_row(*s) for s in writes.new]
            changed = [paper_to_row(*s) for s in writes.changed]
            if new:
                conn.execute(t.papers.insert(), [dict(r, first_seen=now, last_changed=now) for r in new])
            if changed:
                cols = [c for c in changed[0] if c != "id"]
                stmt = (update(t.papers).where(t.papers.c.id == bindparam("_id"))
                        .values({c: bindparam(c) for c in cols + ["last_changed"]}))
                conn.execute(stmt, [dict(r, _id=r["id"], last_changed=now) for r in changed])
            _replace_categories(conn, [s[0] for s in writes.new + writes.changed])
            insert_new(conn, t.paper_signals, ("paper_id", "source", "observed_at"), writes.signals)
            insert_new(conn, t.repo_stars, ("repo", "observed_at", "source"), writes.stars)
            insert_new(conn, t.repos, ("repo",), [{"repo": r, "status": "new"} for r in writes.repos])
            insert_new(conn, t.paper_sources, ("paper_id", "source", "ref"), writes.provenance)
            if conn.dialect.name == "postgresql":
                index_pending_terms(conn)  # FTS5's terms of the new text, in the same transaction
        return writes

    def get(self, paper_id: str) -> Paper | None:
        with self._read() as conn:
            row = conn.execute(select(t.papers).where(t.papers.c.id == paper_id)).first()
        return paper_from_row(row) if row else None

    def get_many(self, ids: Sequence[str]) -> dict[str, Paper]:
        out: dict[str, Paper] = {}
        with self._read() as conn:
            for chunk in chunks(list(ids)):
                for row in conn.execute(select(t.papers).where(t.papers.c.id.in_(chunk))):
                    out[row.id] = paper_from_row(row)
        return out

    def in_range(self, start: str, end: str, sort: str = "upvotes", limit: int | None = None,
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
        with self._read() as conn:
            return [paper_from_row(r) for r in conn.execute(query)]

    def count_in_range(self, start: str, end: str) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.papers).where(
                t.papers.c.list_date >= start, t.papers.c.list_date <= end)).scalar_one())

    def count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.papers)).scalar_one())

    def latest_list_date(self) -> str | None:
        with self._read() as conn:
            value: str | None = conn.execute(select(func.max(t.papers.c.list_date))).scalar_one()
            return value

    def neighbour_dates(self, day: str) -> tuple[str | None, str | None]:
        """The nearest list dates with papers before and after ``day``."""
        c = t.papers.c
        with self._read() as conn:
            before = conn.execute(select(func.max(c.list_date)).where(c.list_date < day)).scalar_one()
            after = conn.execute(select(func.min(c.list_date)).where(c.list_date > day)).scalar_one()
        return before, after

    def day_counts(self, start: str, end: str) -> list[DayCount]:
        query = (select(t.papers.c.list_date, func.count()).where(
            t.papers.c.list_date >= start, t.papers.c.list_date <= end)
            .group_by(t.papers.c.list_date).order_by(t.papers.c.list_date))
        with self._read() as conn:
            return [DayCount(d, n) for d, n in conn.execute(query)]

    def data_version(self) -> str:
        """Changes whenever what a public page shows changes: papers (their text, and their
        signals: imports and star refreshes set ``last_changed``), the trending ranking, vectors
        (similar papers), runs. A validator for HTTP caching, read at most once a second."""
        parts = (select(func.count(), func.max(t.papers.c.last_changed)),
                 select(func.max(t.ingest_runs.c.id)),
                 select(func.max(t.trending.c.computed_at)),   # a few thousand rows at most
                 select(func.max(t.paper_vectors.c.seq)))
        with self._read() as conn:
            return "-".join(str(v) for query in parts for v in conn.execute(query).one())

    def sources_of(self, paper_id: str) -> list[dict[str, Any]]:
        query = (select(t.paper_sources.c.source, t.paper_sources.c.ref, t.paper_sources.c.first_seen)
                 .where(t.paper_sources.c.paper_id == paper_id).order_by(t.paper_sources.c.first_seen))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _replace_categories(conn: Connection, papers: list[Paper]) -> None:
    for chunk in chunks([p.id for p in papers]):
        conn.execute(t.paper_categories.delete().where(t.paper_categories.c.paper_id.in_(chunk)))
    values = [{"paper_id": p.id, "category": c, "position": i}
              for p in papers for i, c in enumerate(dict.fromkeys(p.categories))]
    if values:
        conn.execute(t.paper_categories.insert(), values)
