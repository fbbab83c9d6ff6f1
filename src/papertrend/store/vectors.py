"""Stored embeddings: one float32 vector per paper and model, the source of every vector index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from . import schema as t
from .base import SubStore
from .batching import chunks


class VectorStore(SubStore):
    """``store.vectors``."""

    def texts_to_embed(self, model: str, limit: int | None = None) -> list[tuple[str, str, str, str | None]]:
        """(id, title, abstract, stored text hash) of every paper, with the hash of the text its
        vector for ``model`` was made from (None without one): the caller compares hashes."""
        v = t.paper_vectors
        query = (select(t.papers.c.id, t.papers.c.title, t.papers.c.abstract, v.c.text_hash)
                 .select_from(t.papers.outerjoin(v, and_(v.c.paper_id == t.papers.c.id, v.c.model == model)))
                 .order_by(t.papers.c.id))
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]

    def save(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace vectors; a replaced vector gets a new ``seq`` so indexes reload it."""
        if not rows:
            return
        with self._write() as conn:
            for chunk in chunks([r["paper_id"] for r in rows]):
                conn.execute(t.paper_vectors.delete().where(t.paper_vectors.c.paper_id.in_(chunk)))
            conn.execute(t.paper_vectors.insert(), rows)

    def after(self, model: str, seq: int, limit: int | None = None) -> list[tuple[int, str, bytes]]:
        """(seq, paper id, vector bytes) of vectors stored after ``seq``, in order."""
        v = t.paper_vectors
        query = select(v.c.seq, v.c.paper_id, v.c.vector).where(v.c.model == model, v.c.seq > seq).order_by(v.c.seq)
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    def count(self, model: str) -> tuple[int, int]:
        """(number of vectors, highest seq): cheap to poll."""
        with self._read() as conn:
            n, top = conn.execute(select(func.count(), func.max(t.paper_vectors.c.seq))
                                  .where(t.paper_vectors.c.model == model)).one()
        return int(n), int(top or 0)

    def top_seq(self) -> int:
        """The newest vector's seq (any model): an index lookup, cheap enough for every search."""
        with self._read() as conn:
            return int(conn.execute(select(func.max(t.paper_vectors.c.seq))).scalar_one() or 0)
