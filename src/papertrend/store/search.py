"""SQL for full-text search: FTS5 on SQLite, tsvector and GIN on PostgreSQL, and the log of text
changes.

Callers speak FTS5's MATCH syntax as search/query.py writes it (quoted words and phrases joined by
OR or AND, optionally limited to columns: ``{title} : ("a b" OR "c")``). On PostgreSQL it becomes
a tsquery over ``papers_fts.terms``, FTS5's own terms of each paper (store/fts_terms.py), each
column a weight letter; the server computes bm25 over the GIN index's matches (each phrase's
occurrences weighted by column, from ``ts_rank_cd``), with the corpus figures kept per change-log
position (``CorpusStats``): the same matches and the same scores as on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import re
import threading
from dataclasses import dataclass

from sqlalchemy import (BigInteger, ColumnElement, Connection, Float, Select, and_, bindparam, cast, column, func,
                        literal, literal_column, select, table, text, update)
from sqlalchemy.dialects.postgresql import ARRAY, REAL, TSQUERY, TSVECTOR
from sqlalchemy.sql.elements import TextClause

from ..models import SearchFilters
from . import fts_terms
from . import schema as t
from .base import SubStore
from .batching import among, chunks

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


_PG_FTS = table("papers_fts", column("rowid"), column("paper_id"), column("title"), column("abstract"),
                column("authors"), column("keywords"), column("terms"), column("doclen"))
_MATCH = re.compile(r'^\s*(?:\{([^}]*)\}\s*:\s*)?(.*)$', re.S)
_FIELD_WEIGHT_INDEX = {"title": 1, "abstract": 2, "authors": 3, "keywords": 4}  # FTS_WEIGHTS' order


@dataclass(frozen=True)
class PgMatch:
    """An FTS5 MATCH expression of ours (search/query.py writes it: quoted words and phrases joined
    by OR or AND, optionally limited to columns), as FTS5 terms and a tsquery over ``terms``."""
    phrases: tuple[tuple[str, ...], ...]
    letters: str          # weight letters of the columns searched; "" for all
    every: bool           # AND: every phrase must be found

    @classmethod
    def parse(cls, match: str) -> "PgMatch":
        m = _MATCH.match(match)
        columns, body = ((m.group(1) or "").split(), m.group(2)) if m else ([], match)
        letters = "".join(sorted(fts_terms.WEIGHT_LETTER[c] for c in columns if c in fts_terms.WEIGHT_LETTER))
        tok = fts_terms.tokenizer()
        # Not deduplicated: FTS5 scores "know" OR "knowing" as two phrases (both stem to know).
        phrases = tuple(terms for item in re.findall(r'"([^"]*)"', body) if (terms := tuple(tok.terms(item))))
        return cls(phrases, letters, " AND " in body)

    def phrase_query(self, phrase: tuple[str, ...]) -> str:
        suffix = f":{self.letters}" if self.letters else ""
        return "(" + " <-> ".join(fts_terms.quote(term) + suffix for term in phrase) + ")"

    @property
    def tsquery(self) -> str:
        return (" & " if self.every else " | ").join(self.phrase_query(p) for p in self.phrases)



# ts_rank_cd's weights, in its order (D, C, B, A); it refuses weights above 1, so they are scaled.
_LETTER_ORDER = "DCBA"


def _rank_weights(field_weights: tuple[float, ...]) -> tuple[list[float], float]:
    """ts_rank_cd's weight array for ``field_weights`` (scaled to at most 1) and the scale."""
    raw = [field_weights[_FIELD_WEIGHT_INDEX[fts_terms.COLUMN_OF_LETTER[letter]]] for letter in _LETTER_ORDER]
    scale = max(raw) or 1.0
    return [w / scale for w in raw], scale


def _pg_ranked(match: PgMatch, filters: SearchFilters, limit: int, field_weights: tuple[float, ...],
               by_rowid: bool, idfs: Sequence[float], avgdl: float) -> Select[Any]:
    """FTS5's bm25 as one statement: the GIN index finds the rows; per phrase, ``ts_rank_cd``
    with no normalisation is the sum, over the phrase's occurrences, of their column's weight
    (each occurrence is a cover of its own, with no noise words), which is what FTS5 counts; the
    corpus figures come in as parameters. Only the best ``limit`` rows leave the server."""
    clauses = filter_clause(filters)
    source: Any = _PG_FTS
    key: Any = _PG_FTS.c.rowid if by_rowid else _PG_FTS.c.paper_id
    if clauses:
        source = source.join(t.papers, literal_column("papers.rowid") == _PG_FTS.c.rowid)
        key = _PG_FTS.c.rowid if by_rowid else t.papers.c.id
    weights, scale = _rank_weights(field_weights)
    weight_array = cast(literal("{" + ",".join(repr(w) for w in weights) + "}"), ARRAY(REAL))
    hits = [(cast(func.ts_rank_cd(weight_array, _PG_FTS.c.terms, cast(literal(match.phrase_query(phrase)), TSQUERY), 0),
                  Float) * scale).label(f"h{i}") for i, phrase in enumerate(match.phrases)]
    # OFFSET 0 keeps the rows' hits computed once each: pulled up into the score, each would be
    # computed as often as the score names it.
    found = (select(key.label("key"), _PG_FTS.c.doclen, *hits).select_from(source)
             .where(_PG_FTS.c.terms.op("@@")(cast(literal(match.tsquery), TSQUERY)), *clauses)
             .offset(0).subquery("found"))
    norm = fts_terms.K1 * (1 - fts_terms.B + fts_terms.B * cast(found.c.doclen, Float) / (avgdl or 1.0))
    score: Any = literal(0.0, Float)
    for i, idf in enumerate(idfs):
        hit = found.c[f"h{i}"]
        score = score + literal(idf, Float) * hit * (fts_terms.K1 + 1) / (hit + norm)
    scored = select(found.c.key, score.label("score")).subquery("scored")
    return select(scored.c.key, scored.c.score).order_by(scored.c.score.desc(), scored.c.key).limit(limit)


class CorpusStats:
    """The corpus figures bm25 needs on PostgreSQL (rows, total length, how many rows hold each
    phrase), kept per change-log position: the log's newest entry moves with every change to
    searchable text, so figures read at one position stay exact until it moves. Counting them
    costs a scan of every row (rows, lengths) or of every match (a common phrase), more than the
    search itself; a web process asks for the same few again and again. (Like the in-memory
    index, which follows the same log, it trusts the newest position to move with each commit.)"""

    MAX_PHRASES = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._position = -1
        self._totals: tuple[int, int] | None = None
        self._counts: dict[str, int] = {}

    def _keep(self, position: int, totals: tuple[int, int] | None = None,
              phrase: tuple[str, int] | None = None) -> None:
        with self._lock:
            if position > self._position:
                self._position, self._totals, self._counts = position, None, {}
            if position != self._position:
                return  # read at an older position than another thread has seen since
            if totals is not None:
                self._totals = totals
            if phrase is not None:
                if len(self._counts) >= self.MAX_PHRASES:
                    self._counts.clear()
                self._counts[phrase[0]] = phrase[1]

    def totals(self, conn: Connection, position: int) -> tuple[int, int]:
        """(rows, their total length in terms) at change-log ``position``."""
        with self._lock:
            if position == self._position and self._totals is not None:
                return self._totals
        rows, total = conn.execute(select(func.count(), func.coalesce(func.sum(_PG_FTS.c.doclen), 0))
                                   .select_from(_PG_FTS)).one()
        self._keep(position, totals=(int(rows), int(total)))
        return int(rows), int(total)

    def rows_with(self, conn: Connection, position: int, phrase_query: str) -> int:
        """How many rows hold the phrase at change-log ``position`` (the GIN index finds them)."""
        with self._lock:
            found = self._counts.get(phrase_query) if position == self._position else None
        if found is None:
            found = int(conn.execute(select(func.count()).select_from(_PG_FTS).where(
                _PG_FTS.c.terms.op("@@")(cast(literal(phrase_query), TSQUERY)))).scalar_one())
            self._keep(position, phrase=(phrase_query, found))
        return found


def index_pending_terms(conn: Connection, batch: int = 2000) -> int:
    """PostgreSQL: fill ``papers_fts.terms`` of the rows whose text changed (the trigger empties
    it) with FTS5's terms. Returns how many rows it filled."""
    done = 0
    tok = fts_terms.tokenizer()
    while True:
        rows = conn.execute(select(_PG_FTS.c.rowid, _PG_FTS.c.title, _PG_FTS.c.abstract, _PG_FTS.c.authors,
                                   _PG_FTS.c.keywords).where(_PG_FTS.c.terms.is_(None))
                            .order_by(_PG_FTS.c.rowid).limit(batch).with_for_update(skip_locked=True)).all()
        if not rows:
            return done
        values = []
        for row, columns in zip(rows, tok.columns([tuple(r[1:]) for r in rows]), strict=True):
            vector, length = fts_terms.tsvector_text(columns)
            values.append({"_rowid": row[0], "_terms": vector, "_doclen": length})
        conn.execute(update(_PG_FTS).where(_PG_FTS.c.rowid == bindparam("_rowid"))
                     .values(terms=cast(bindparam("_terms"), TSVECTOR), doclen=bindparam("_doclen")), values)
        done += len(rows)


# The change log's newest position, and whether any row waits for its terms: both index probes.
_POSITION = select(func.max(t.paper_text_log.c.seq)).scalar_subquery()
_PENDING = select(_PG_FTS.c.rowid).where(_PG_FTS.c.terms.is_(None)).exists()

_FTS_TEXT = table("papers_fts", column("rowid"), column("title"), column("abstract"), column("authors"),
                  column("keywords"))


class SearchStore(SubStore):
    """``store.search``: FTS5 queries, and what the in-memory index (search/lexical.py) reads."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self._stats = CorpusStats()  # PostgreSQL's bm25 figures

    def fulltext(self, match: str, filters: SearchFilters, limit: int,
                 field_weights: tuple[float, ...] = FTS_WEIGHTS, by_rowid: bool = False) -> list[tuple[Any, float]]:
        """(paper id, or rowid, and score, higher is better) for an FTS5 MATCH expression: bm25 on
        SQLite, the same bm25 from the same terms on PostgreSQL."""
        if self._postgresql:
            return self._pg_fulltext(match, filters, limit, field_weights, by_rowid)
        with self._read() as conn:
            rows = conn.execute(fts_statement(match, filters, limit, field_weights, by_rowid))
            return [(r[0], float(r[1])) for r in rows]

    @property
    def _postgresql(self) -> bool:
        return self._store.engine.dialect.name == "postgresql"

    def _among(self, column: ColumnElement[Any], values: Sequence[Any],
               item_type: Any = None) -> ColumnElement[bool]:
        return among(self._store.engine.dialect.name, column, values, item_type)

    def _pg_catch_up(self) -> None:
        """Fill the terms of rows changed outside an import (the trigger empties them), so no
        change is missed by a search; an index probe when there are none."""
        with self._read() as conn:
            pending = conn.execute(select(_PENDING)).scalar_one()
        if pending:
            with self._write() as conn:
                index_pending_terms(conn)

    def _pg_fulltext(self, match: str, filters: SearchFilters, limit: int, field_weights: tuple[float, ...],
                     by_rowid: bool) -> list[tuple[Any, float]]:
        """FTS5's bm25 on PostgreSQL, computed by the server over the GIN index's matches from the
        same terms (so the same scores: tests/test_search.py compares them)."""
        parsed = PgMatch.parse(match)
        if not parsed.phrases:
            return []
        for attempt in range(2):
            with self._read() as conn:
                # One round trip for the change-log position and the catch-up probe.
                position, pending = conn.execute(select(_POSITION, _PENDING)).one()
                if not pending or attempt:
                    statement = self._pg_statement(conn, int(position or 0), parsed, filters, limit, field_weights,
                                                   by_rowid)
                    return [(r[0], float(r[1])) for r in conn.execute(statement)]
            with self._write() as conn:
                index_pending_terms(conn)
        return []  # not reached: the second attempt always answers

    def _pg_statement(self, conn: Connection, position: int, parsed: PgMatch, filters: SearchFilters, limit: int,
                      field_weights: tuple[float, ...], by_rowid: bool) -> Select[Any]:
        """The ranked search with the corpus figures at change-log ``position`` (cached)."""
        rows, total = self._stats.totals(conn, position)
        idfs = [fts_terms.idf(rows, self._stats.rows_with(conn, position, parsed.phrase_query(p)))
                for p in parsed.phrases]
        return _pg_ranked(parsed, filters, limit, field_weights, by_rowid, idfs, total / rows if rows else 1.0)

    def fulltext_sql(self, match: str, filters: SearchFilters, limit: int) -> tuple[str, dict[str, Any]]:
        # Named parameters read better than "?" when a person looks at the SQL.
        if self._postgresql:
            parsed = PgMatch.parse(match)
            if not parsed.phrases:
                return "", {}
            with self._read() as conn:
                position = int(conn.execute(select(_POSITION)).scalar_one() or 0)
                statement = self._pg_statement(conn, position, parsed, filters, limit, FTS_WEIGHTS, False)
            compiled = statement.compile(dialect=self._store.engine.dialect)
        else:
            compiled = fts_statement(match, filters, limit).compile()
        return " ".join(str(compiled).split()), dict(compiled.params)

    def filter_ids(self, ids: Sequence[str], filters: SearchFilters) -> set[str]:
        """The ids among ``ids`` whose papers pass ``filters``."""
        out: set[str] = set()
        with self._read() as conn:
            for chunk in chunks(list(ids)):
                query = select(t.papers.c.id).where(and_(self._among(t.papers.c.id, chunk), *filter_clause(filters)))
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
                query = select(rowid, t.papers.c.id).where(self._among(rowid, chunk, BigInteger()),
                                                           *filter_clause(filters or SearchFilters()))
                out.update((int(r[0]), r[1]) for r in conn.execute(query))
        return out

    def titles_and_abstracts(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, abstract) by paper id, for up to a few hundred ids: no other column is read."""
        query = select(t.papers.c.id, t.papers.c.title, t.papers.c.abstract).where(self._among(t.papers.c.id, ids))
        with self._read() as conn:
            return {r[0]: (r[1] or "", r[2] or "") for r in conn.execute(query)}

    def fulltext_titles(self, rowids: Sequence[int]) -> dict[int, str]:
        """Titles as indexed, by rowid."""
        out: dict[int, str] = {}
        with self._read() as conn:
            for chunk in chunks(list(rowids)):
                query = select(_FTS_TEXT.c.rowid, _FTS_TEXT.c.title).where(self._among(_FTS_TEXT.c.rowid, chunk,
                                                                                      BigInteger()))
                out.update((int(r[0]), r[1] or "") for r in conn.execute(query))
        return out

    def fulltext_rowids(self, match: str, limit: int) -> list[int]:
        """Rowids matching an FTS5 expression, newest first, unranked: reading matches stops after
        ``limit``, where ranking would score every one of them."""
        fts: Any = _FTS
        where: ColumnElement[Any] | TextClause = text("papers_fts MATCH :match").bindparams(match=match)
        if self._postgresql:
            parsed = PgMatch.parse(match)
            if not parsed.phrases:
                return []
            self._pg_catch_up()
            fts, where = _PG_FTS, _PG_FTS.c.terms.op("@@")(cast(literal(parsed.tsquery), TSQUERY))
        with self._read() as conn:
            query = select(fts.c.rowid).select_from(fts).where(where).order_by(fts.c.rowid.desc()).limit(limit)
            return [int(r[0]) for r in conn.execute(query)]
