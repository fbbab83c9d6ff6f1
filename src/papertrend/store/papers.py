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

from ..ids import author_key, normalize_title
from ..models import PAPER_FIELDS, Author, Paper
from . import schema as t
from .base import SubStore, insert_new, lock_name, upsert
from .batching import chunks
from .community import submitter_name, visible_papers
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
            _replace_authors(conn, [s[0] for s in writes.new + writes.changed])
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
             offset: int = 0, category: str | None = None, submitter: str | None = None) -> list[Paper]:
        """Papers whose list date is in [start, end], most upvoted (or newest) first; only those
        ``submitter`` put on a daily list or submitted here, when given (any letter case)."""
        query = select(t.papers).where(t.papers.c.list_date >= start, t.papers.c.list_date <= end, visible_papers())
        if submitter:
            query = query.where(func.lower(submitter_name()) == submitter.lower())
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

    def last_changed_of(self, ids: Sequence[str]) -> str | None:
        """When the newest change to any of these papers was stored (ISO, UTC), or None: a
        feed's Last-Modified."""
        newest: str | None = None
        with self._read() as conn:
            for chunk in chunks(list(ids)):
                value = conn.execute(select(func.max(t.papers.c.last_changed))
                                     .where(t.papers.c.id.in_(chunk))).scalar_one()
                if value is not None and (newest is None or value > newest):
                    newest = value
        return newest

    def count_in_range(self, start: str, end: str) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.papers).where(
                t.papers.c.list_date >= start, t.papers.c.list_date <= end, visible_papers())).scalar_one())

    def count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.papers)).scalar_one())

    def latest_list_date(self) -> str | None:
        with self._read() as conn:
            value: str | None = conn.execute(select(func.max(t.papers.c.list_date))).scalar_one()
            return value

    def neighbour_dates(self, day: str, last_day: str | None = None) -> tuple[str | None, str | None]:
        """The nearest list dates with papers before ``day`` and after ``last_day`` (default:
        ``day``): the neighbours of a day, or of a week or month from its first to last day."""
        c = t.papers.c
        with self._read() as conn:
            before = conn.execute(select(func.max(c.list_date)).where(c.list_date < day)).scalar_one()
            after = conn.execute(select(func.min(c.list_date)).where(c.list_date > (last_day or day))).scalar_one()
        return before, after

    def day_counts(self, start: str, end: str) -> list[DayCount]:
        query = (select(t.papers.c.list_date, func.count()).where(
            t.papers.c.list_date >= start, t.papers.c.list_date <= end)
            .group_by(t.papers.c.list_date).order_by(t.papers.c.list_date))
        with self._read() as conn:
            return [DayCount(d, n) for d, n in conn.execute(query)]

    def by_author(self, name: str, limit: int, offset: int = 0) -> tuple[int, list[Paper]]:
        """How many papers list an author of this name (ids.author_key), and a page of them,
        newest first."""
        key = author_key(name)
        ids = select(t.paper_authors.c.paper_id).where(t.paper_authors.c.name_key == key,
                                                       t.paper_authors.c.paper_id.not_in(select(t.hidden_papers.c.paper_id)))
        query = (select(t.papers).where(t.papers.c.id.in_(ids))
                 .order_by(t.papers.c.list_date.desc(), t.papers.c.upvotes.desc(), t.papers.c.id)
                 .limit(limit).offset(offset))
        with self._read() as conn:
            total = int(conn.execute(select(func.count()).select_from(ids.distinct().subquery())).scalar_one())
            return total, [paper_from_row(r) for r in conn.execute(query)]

    def thumbnails_to_fetch(self, limit: int) -> list[tuple[str, str]]:
        """(paper id, thumbnail address) of papers whose thumbnail was never tried, or whose
        address changed since; newest list dates first."""
        p, th = t.papers.c, t.paper_thumbnails.c
        query = (select(p.id, p.thumbnail_url)
                 .select_from(t.papers.outerjoin(t.paper_thumbnails, th.paper_id == p.id))
                 .where(p.thumbnail_url.is_not(None),
                        (th.paper_id.is_(None)) | (th.url != p.thumbnail_url))
                 .order_by(p.list_date.desc(), p.id).limit(limit))
        with self._read() as conn:
            return [(r.id, r.thumbnail_url) for r in conn.execute(query)]

    def record_thumbnail(self, paper_id: str, url: str, file: str | None, error: str | None, at: str) -> None:
        """What fetching ``url`` gave: the cached file's name, or the error (not tried again
        until the address changes)."""
        th = t.paper_thumbnails
        with self._write() as conn:
            # One statement, so two workers recording the same paper at once cannot both insert.
            upsert(conn, th, ("paper_id",), [{"paper_id": paper_id, "url": url, "file": file,
                                             "status": "ok" if file else "error", "error": error,
                                             "fetched_at": at}], ("url", "file", "status", "error", "fetched_at"))

    def thumbnails_of(self, ids: Sequence[str]) -> dict[str, str]:
        """paper id -> cached thumbnail file name, for those of ``ids`` that have one."""
        th = t.paper_thumbnails.c
        out: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(list(ids)):
                for row in conn.execute(select(th.paper_id, th.file).where(th.paper_id.in_(chunk),
                                                                           th.status == "ok")):
                    out[row.paper_id] = row.file
        return out

    def data_version(self) -> str:
        """Changes whenever what a public page shows changes: papers (their text, and their
        signals: imports and star refreshes set ``last_changed``), the trending ranking, vectors
        (similar papers), runs. A validator for HTTP caching, read at most once a second."""
        parts = (select(func.count(), func.max(t.papers.c.last_changed)),
                 select(func.max(t.ingest_runs.c.id)),
                 select(func.max(t.trending.c.computed_at)),   # a few thousand rows at most
                 select(func.max(t.paper_vectors.c.seq)),
                 select(func.max(t.paper_thumbnails.c.fetched_at)),   # a fetched thumbnail shows in lists
                 select(func.max(t.community_events.c.seq)))   # votes, comments, moderation
        with self._read() as conn:
            return "-".join(str(v) for query in parts for v in conn.execute(query).one())

    def sources_of(self, paper_id: str) -> list[dict[str, Any]]:
        query = (select(t.paper_sources.c.source, t.paper_sources.c.ref, t.paper_sources.c.first_seen)
                 .where(t.paper_sources.c.paper_id == paper_id).order_by(t.paper_sources.c.first_seen))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def without_categories(self, after: str, limit: int) -> list[str]:
        """arXiv papers (not ``pt-`` listing ids) with no category, by id after ``after``: what
        the arXiv metadata job asks arXiv for."""
        query = select(t.papers.c.id).where(*_without_categories(after)).order_by(t.papers.c.id).limit(limit)
        with self._read() as conn:
            return [r.id for r in conn.execute(query)]

    def listing_only(self, after: str, limit: int) -> list[tuple[str, str]]:
        """(id, title) of papers known only from a pasted listing (no arXiv id, metadata from
        the listing), by id after ``after``: what the metadata job looks up on arXiv by title."""
        query = (select(t.papers.c.id, t.papers.c.title).where(*_listing_only(after))
                 .order_by(t.papers.c.id).limit(limit))
        with self._read() as conn:
            return [(r.id, r.title) for r in conn.execute(query)]

    def metadata_backlog(self, after_id: str = "", after_title: str = "") -> tuple[int, int]:
        """How many papers :meth:`without_categories` and :meth:`listing_only` have left."""
        with self._read() as conn:
            return (int(conn.execute(select(func.count()).where(*_without_categories(after_id))).scalar_one()),
                    int(conn.execute(select(func.count()).where(*_listing_only(after_title))).scalar_one()))


def _without_categories(after: str) -> tuple[Any, ...]:
    has = select(t.paper_categories.c.paper_id).where(t.paper_categories.c.paper_id == t.papers.c.id)
    return t.papers.c.id > after, ~t.papers.c.id.like("pt-%"), ~has.exists()


def _listing_only(after: str) -> tuple[Any, ...]:
    return t.papers.c.id > after, t.papers.c.id.like("pt-%"), t.papers.c.metadata_source == "listing"


def _replace_authors(conn: Connection, papers: list[Paper]) -> None:
    for chunk in chunks([p.id for p in papers]):
        conn.execute(t.paper_authors.delete().where(t.paper_authors.c.paper_id.in_(chunk)))
    values = [{"paper_id": p.id, "position": i, "name_key": key}
              for p in papers for i, key in enumerate(author_key(a.name) for a in p.authors) if key]
    if values:
        conn.execute(t.paper_authors.insert(), values)


def _replace_categories(conn: Connection, papers: list[Paper]) -> None:
    for chunk in chunks([p.id for p in papers]):
        conn.execute(t.paper_categories.delete().where(t.paper_categories.c.paper_id.in_(chunk)))
    values = [{"paper_id": p.id, "category": c, "position": i}
              for p in papers for i, c in enumerate(dict.fromkeys(p.categories))]
    if values:
        conn.execute(t.paper_categories.insert(), values)
