"""FTS5's own tokenizer, for PostgreSQL: the terms SQLite's full-text index makes of a paper, so
PostgreSQL searches and ranks the very same terms (porter over unicode61, diacritics removed).

PostgreSQL's text-search configurations stem and split differently (snowball, stopwords dropped,
hyphens kept), which would make a search find and rank other papers on PostgreSQL than on SQLite.
So the terms are made here, by an in-memory SQLite FTS5 table that holds no data (it is the
tokenizer), and stored in ``papers_fts.terms`` as a tsvector with positions: PostgreSQL's GIN
index finds matches and phrases, and bm25 is computed from them as FTS5 computes it
(store/search.py ``_pg_ranked``, with ``K1``, ``B`` and ``idf`` below).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence

from .migrations import FTS_TOKENIZE

COLUMNS = ("title", "abstract", "authors", "keywords")  # papers_fts's text columns, FTS5's order
WEIGHT_LETTER = {"title": "A", "keywords": "B", "authors": "C", "abstract": "D"}
COLUMN_OF_LETTER = {letter: column for column, letter in WEIGHT_LETTER.items()}
MAX_POSITION = 16383  # PostgreSQL keeps positions up to this; later words match without a phrase
K1, B = 1.2, 0.75     # FTS5's bm25 constants


class Tokenizer:
    """Texts to FTS5 terms, column by column. Thread-safe (one lock around the SQLite)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        cols = ", ".join(COLUMNS)
        self._db.execute(f"CREATE VIRTUAL TABLE docs USING fts5({cols}, tokenize = '{FTS_TOKENIZE}')")
        self._db.execute("CREATE VIRTUAL TABLE doc_terms USING fts5vocab(docs, 'instance')")
        self._lock = threading.Lock()

    def columns(self, rows: Sequence[Sequence[str | None]]) -> list[dict[str, list[str]]]:
        """For each row of (title, abstract, authors, keywords): each column's terms in order."""
        out: list[dict[str, list[str]]] = [{c: [] for c in COLUMNS} for _ in rows]
        with self._lock:
            self._db.executemany("INSERT INTO docs (rowid, title, abstract, authors, keywords) VALUES (?, ?, ?, ?, ?)",
                                 [(i, *(r[k] or "" for k in range(4))) for i, r in enumerate(rows)])
            for term, doc, col, _ in self._db.execute(
                    "SELECT term, doc, col, offset FROM doc_terms ORDER BY doc, col, offset"):
                out[doc][col].append(term)
            self._db.execute("DELETE FROM docs")
        return out

    def terms(self, text: str) -> list[str]:
        return self.columns([(text, "", "", "")])[0]["title"]


_shared: list[Tokenizer] = []
_shared_lock = threading.Lock()


def tokenizer() -> Tokenizer:
    with _shared_lock:
        if not _shared:
            _shared.append(Tokenizer())
        return _shared[0]


def tsvector_text(columns: dict[str, list[str]]) -> tuple[str, int]:
    """A tsvector literal of a paper's terms, with positions and a weight letter per column
    (columns one position apart, so no phrase spans two), and its length in terms."""
    positions: dict[str, list[str]] = {}
    base, length = 1, 0
    for column in COLUMNS:
        terms = columns[column]
        letter = WEIGHT_LETTER[column]
        for i, term in enumerate(terms):
            positions.setdefault(term, []).append(f"{min(base + i, MAX_POSITION)}{letter}")
        base += len(terms) + 1
        length += len(terms)
    return " ".join(f"{quote(term)}:{','.join(ps)}" for term, ps in positions.items()), length


def quote(term: str) -> str:
    """A term as a tsvector / tsquery lexeme: quoted, its quotes and backslashes escaped."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def idf(rows: int, hits: int) -> float:
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else 1e-6
