"""SQL for full-text search: FTS5 on SQLite, tsvector and GIN on PostgreSQL, and the log of text
changes.

Callers speak FTS5's MATCH syntax as search/query.py writes it (quoted words and phrases joined by
OR or AND, optionally limited to columns: ``{title} : ("a b" OR "c")``); on PostgreSQL it is
translated to a tsquery (``pg_tsquery``), each column a weight of the ``document`` vector."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re

from sqlalchemy import ColumnElement, Connection, Select, and_, column, func, literal_column, select, table, text
from sqlalchemy.sql.elements import TextClause

from ..models import SearchFilters
from . import schema as t
from .base import SubStore
from .batching import chunks

# bm25 weights per FTS column (paper_id, title, abstract, authors, keywords): a word in the title
# says more about a paper than the same word in its abstract. Title 4 beat title 8 on the
# conceptual task of bench/bench_relevance.py (MRR@10 0.968 against 0.964) and lost nothing else.
FTS_WEIGHTS = (0.0, 4.0, 1.0, 2.0, 3.0)


def filter_clause(filters: SearchFilters) -> list[Any]:
    c = t.papers.c
    out: list[Any] = []
    if filters.date_from:
        out.append(c.list_date >= filters.date_from)
    if filters.date_to:
        out.append(c.list_date <= filters.date_to)
    if filters.has_code:
        out.append(c.code_url.is_not(None))
    if filters.min_upvotes:
        out.append(c.upvotes >= filters.min_upvotes)
    if filters.category:
        out.append(c.id.in_(select(t.paper_categories.c.paper_id).where(
            t.paper_categories.c.category == filters.category)))
    return out


_FTS = table("papers_fts", column("rowid"), column("paper_id"))
_PG_FTS = table("papers_fts", column("rowid"), column("paper_id"), column("document"))
# FTS5 column -> the weight its words carry in PostgreSQL's document vector (migration 0012).
PG_WEIGHT_OF = {"title": "A", "keywords": "B", "authors": "C", "abstract": "D"}
_MATCH = re.compile(r'^\s*(?:\{([^}]*)\}\s*:\s*)?(.*)$', re.S)


def pg_tsquery(match: str) -> str:
    """An FTS5 MATCH expression of ours as a ``to_tsquery`` text: words of a phrase joined by
    ``<->`` (PostgreSQL keeps positions), items by ``|`` or ``&``, columns as weights. Words are
    ``\\w+`` runs (search/query.py), so quoting each one is enough to keep tsquery syntax out."""
    m = _MATCH.match(match)
    columns, body = ((m.group(1) or "").split(), m.group(2)) if m else ([], match)
    weights = "".join(PG_WEIGHT_OF[c] for c in columns if c in PG_WEIGHT_OF)
    items = []
    for item in re.findall(r'"([^"]*)"', body):
        words = re.findall(r"\w+", item)
        if words:
            items.append("(" + " <-> ".join(f"'{w}'" + (f":{weights}" if weights else "") for w in words) + ")")
    return (" & " if " AND " in body else " | ").join(items)


def _pg_weights(field_weights: tuple[float, ...]) -> str:
    """ts_rank's weights, in its order {D, C, B, A}, scaled into 0..1 from FTS5's per-column ones."""
    by_column = dict(zip(("paper_id", "title", "abstract", "authors", "keywords"), field_weights, strict=False))
    top = max(field_weights) or 1.0
    ordered = [by_column.get(c, 0.0) / top for c in ("abstract", "authors", "keywords", "title")]
    return "{" + ", ".join(f"{w:.6f}" for w in ordered) + "}"


def pg_fts_statement(match: str, filters: SearchFilters, limit: int,
                     field_weights: tuple[float, ...] = FTS_WEIGHTS, by_rowid: bool = False) -> Select[Any]:
    """The PostgreSQL form of ``fts_statement``: the GIN index finds the matches, ts_rank with
    the columns' weights orders them."""
    query_text = pg_tsquery(match)
    tsquery = func.to_tsquery(literal_column("'english'"), query_text)
    rank: ColumnElement[float] = func.ts_rank(literal_column(f"'{_pg_weights(field_weights)}'"),
                                              _PG_FTS.c.document, tsquery)
    matching = _PG_FTS.c.document.op("@@")(tsquery)
    clauses = filter_clause(filters)
    if not clauses:
        key = _PG_FTS.c.rowid if by_rowid else _PG_FTS.c.paper_id
        query = select(key, rank.label("score")).select_from(_PG_FTS).where(matching)
    else:
        joined = _PG_FTS.join(t.papers, literal_column("papers.rowid") == _PG_FTS.c.rowid)
        key = _PG_FTS.c.rowid if by_rowid else t.papers.c.id
        query = select(key, rank.label("score")).select_from(joined).where(matching, *clauses)
    return query.order_by(rank.desc(), key).limit(limit)


def _statement(conn: Connection, match: str, filters: SearchFilters, limit: int,
               field_weights: tuple[float, ...] = FTS_WEIGHTS, by_rowid: bool = False) -> Select[Any]:
    build = pg_fts_statement if conn.dialect.name == "postgresql" else fts_statement
    return build(match, filters, limit, field_weights, by_rowid)


def fts_statement(match: str, filters: SearchFilters, limit: int,
                  field_weights: tuple[float, ...] = FTS_WEIGHTS, by_rowid: bool = False) -> Select[Any]:
    """The full-text search as a statement; `search --sql` prints it. Filters are the same
    clauses every other search path uses (``filter_clause``)."""
    weights = ", ".join(str(float(w)) for w in field_weights)
    rank: ColumnElement[float] = literal_column(f"bm25(papers_fts, {weights})")
    matching = text("papers_fts MATCH :match").bindparams(match=match)
    clauses = filter_clause(filters)
    if not clauses:
        # No filter: rank inside the FTS index and read only the best rows (joining every match
        # to papers first costs more than the ranking itself on a large corpus).
        key = _FTS.c.rowid if by_rowid else _FTS.c.paper_id
        query = select(key, (-rank).label("score")).select_from(_FTS).where(matching)
    else:
        joined = _FTS.join(t.papers, literal_column("papers.rowid") == _FTS.c.rowid)
        key = _FTS.c.rowid if by_rowid else t.papers.c.id
        query = select(key, (-rank).label("score")).select_from(joined).where(matching, *clauses)
    return query.order_by(rank).limit(limit)


_FTS_TEXT = table("papers_fts", column("rowid"), column("title"), column("abstract"), column("authors"),
                  column("keywords"))


class SearchStore(SubStore):
    """``store.search``: FTS5 queries, and what the in-memory index (search/lexical.py) reads."""

    def fulltext(self, match: str, filters: SearchFilters, limit: int,
                 field_weights: tuple[float, ...] = FTS_WEIGHTS, by_rowid: bool = False) -> list[tuple[Any, float]]:
        """(paper id, or rowid, and score, higher is better) for an FTS5 MATCH expression: bm25 on
        SQLite, ts_rank with the same column weights on PostgreSQL."""
        with self._read() as conn:
            if conn.dialect.name == "postgresql" and not pg_tsquery(match):
                return []
            rows = conn.execute(_statement(conn, match, filters, limit, field_weights, by_rowid))
            return [(r[0], float(r[1])) for r in rows]

    def fulltext_sql(self, match: str, filters: SearchFilters, limit: int) -> tuple[str, dict[str, Any]]:
        # Named parameters read better than "?" when a person looks at the SQL.
        with self._read() as conn:
            compiled = _statement(conn, match, filters, limit).compile(dialect=conn.dialect)
        return " ".join(str(compiled).split()), dict(compiled.params)

    def filter_ids(self, ids: Sequence[str], filters: SearchFilters) -> set[str]:
        """The ids among ``ids`` whose papers pass ``filters``."""
        out: set[str] = set()
        with self._read() as conn:
            for chunk in chunks(list(ids)):
                query = select(t.papers.c.id).where(and_(t.papers.c.id.in_(chunk), *filter_clause(filters)))
                out.update(conn.execute(query).scalars())
        return out

    def text_changes_after(self, seq: int, limit: int) -> list[tuple[int, int, tuple[str, ...] | None]]:
        """(log seq, paper rowid, the indexed texts or None if the paper is gone) after ``seq``.

        The texts come from the FTS table, so they are exactly what FTS5 indexed."""
        log = t.paper_text_log
        query = (select(log.c.seq, log.c.paper_rowid, _FTS_TEXT.c.title, _FTS_TEXT.c.abstract,
                        _FTS_TEXT.c.authors, _FTS_TEXT.c.keywords)
                 .select_from(log.outerjoin(_FTS_TEXT, _FTS_TEXT.c.rowid == log.c.paper_rowid))
                 .where(log.c.seq > seq).order_by(log.c.seq).limit(limit))
        with self._read() as conn:
            return [(r[0], r[1], None if r[2] is None else (r[2] or "", r[3] or "", r[4] or "", r[5] or ""))
                    for r in conn.execute(query)]

    def text_log_top(self) -> int:
        """The newest change to searchable text: an index lookup, cheap enough for every search."""
        with self._read() as conn:
            return int(conn.execute(select(func.max(t.paper_text_log.c.seq))).scalar_one() or 0)

    def ids_for_rowids(self, rowids: Sequence[int], filters: SearchFilters | None = None) -> dict[int, str]:
        """Paper id per rowid, for the rowids whose papers pass ``filters``."""
        out: dict[int, str] = {}
        rowid: ColumnElement[int] = literal_column("papers.rowid")
        with self._read() as conn:
            for chunk in chunks(list(rowids)):
                query = select(rowid, t.papers.c.id).where(rowid.in_(chunk), *filter_clause(filters or SearchFilters()))
                out.update((int(r[0]), r[1]) for r in conn.execute(query))
        return out

    def titles_and_abstracts(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, abstract) by paper id, for up to a few hundred ids: no other column is read."""
        query = select(t.papers.c.id, t.papers.c.title, t.papers.c.abstract).where(t.papers.c.id.in_(list(ids)))
        with self._read() as conn:
            return {r[0]: (r[1] or "", r[2] or "") for r in conn.execute(query)}

    def fulltext_titles(self, rowids: Sequence[int]) -> dict[int, str]:
        """Titles as indexed, by rowid."""
        out: dict[int, str] = {}
        with self._read() as conn:
            for chunk in chunks(list(rowids)):
                query = select(_FTS_TEXT.c.rowid, _FTS_TEXT.c.title).where(_FTS_TEXT.c.rowid.in_(chunk))
                out.update((int(r[0]), r[1] or "") for r in conn.execute(query))
        return out

    def fulltext_rowids(self, match: str, limit: int) -> list[int]:
        """Rowids matching an FTS5 expression, newest first, unranked: reading matches stops after
        ``limit``, where ranking would score every one of them."""
        with self._read() as conn:
            if conn.dialect.name == "postgresql":
                tsquery = func.to_tsquery(literal_column("'english'"), pg_tsquery(match))
                where: ColumnElement[Any] | TextClause = _PG_FTS.c.document.op("@@")(tsquery)
                if not pg_tsquery(match):
                    return []
            else:
                where = text("papers_fts MATCH :match").bindparams(match=match)
            query = select(_FTS.c.rowid).select_from(_FTS).where(where).order_by(_FTS.c.rowid.desc()).limit(limit)
            return [int(r[0]) for r in conn.execute(query)]
