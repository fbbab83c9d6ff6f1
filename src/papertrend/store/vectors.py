"""Stored embeddings: one float32 vector per paper and model, the source of every vector index."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from sqlalchemy import Column, Connection, MetaData, String, Table, and_, func, select, text
from sqlalchemy.exc import DBAPIError

from ..errors import StoreError
from . import schema as t
from .base import SubStore, lock_name
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
            # Replacing is delete-then-insert: two writers saving one paper's vector at once (two
            # imports embedding, or an import beside the embed job) would both insert, so they
            # take turns (SQLite's one writer does already).
            lock_name(conn, "vectors.save")
            for chunk in chunks([r["paper_id"] for r in rows]):
                conn.execute(t.paper_vectors.delete().where(t.paper_vectors.c.paper_id.in_(chunk)))
            conn.execute(t.paper_vectors.insert(), rows)
            if _has_pgvector(conn):  # the pgvector index gets them in the same transaction
                _pg_insert(conn, [(r["paper_id"], r["model"], r["vector"]) for r in rows], replace=True)

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

    # -- pgvector: the vectors again, in a PostgreSQL column with an HNSW index ------------------
    # Made by `papertrend index pgvector` (never by a migration: a user's PostgreSQL may lack the
    # extension, and `db upgrade` must not fail there). Each row hangs off its paper_vectors row
    # (ON DELETE CASCADE): a re-embedded or deleted paper's row goes with the old vector, and
    # ``save`` writes the new one in the same transaction, so the two tables never disagree for
    # long; rows stored while the table did not exist are what ``pgvector_fill`` adds.

    def pgvector_ready(self) -> bool:
        """True when this database has the pgvector table (PostgreSQL, after the index step)."""
        with self._read() as conn:
            return _has_pgvector(conn)

    def pgvector_prepare(self, dim: int) -> None:
        """The extension and the table (vectors of ``dim`` values), if missing. StoreError names
        what is wrong: SQLite, or a PostgreSQL server without the extension or without the right
        to create it."""
        with self._write() as conn:
            if conn.dialect.name != "postgresql":
                raise StoreError("pgvector needs PostgreSQL: this database is "
                                 f"{conn.dialect.name}; use vector_index = exact or hnsw")
            if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first() is None:
                if conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first() is None:
                    raise StoreError("the PostgreSQL server has no pgvector extension ('vector'): install it "
                                     "(https://github.com/pgvector/pgvector) or use vector_index = exact or hnsw")
                try:
                    with conn.begin_nested():
                        conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                except DBAPIError as e:
                    raise StoreError("cannot create the pgvector extension ('vector') in this database: "
                                     f"{str(e.orig).strip()}; ask its owner to run CREATE EXTENSION vector") from None
            conn.execute(text(
                f"CREATE TABLE IF NOT EXISTS {PGVECTOR_TABLE} ("
                " paper_id VARCHAR(64) PRIMARY KEY"
                "  REFERENCES paper_vectors (paper_id) ON DELETE CASCADE,"
                " model VARCHAR(60) NOT NULL,"
                f" embedding vector({int(dim)}) NOT NULL)"))

    def pgvector_missing(self, model: str) -> int:
        """Stored vectors of ``model`` that the pgvector table lacks."""
        v = t.paper_vectors
        with self._read() as conn:
            pg = _pg_table()
            return int(conn.execute(
                select(func.count()).select_from(v.outerjoin(pg, pg.c.paper_id == v.c.paper_id))
                .where(v.c.model == model, pg.c.paper_id.is_(None))).scalar_one())

    def pgvector_fill(self, model: str, limit: int, after: int = 0) -> tuple[int, int]:
        """Copy up to ``limit`` vectors the pgvector table lacks into it, in ``seq`` order after
        ``after``; returns how many and the last ``seq`` read (0 copied: it holds them all).
        Resumable: each call is one transaction and copies only what is still missing, so a run
        stopped midway goes on where it stopped."""
        v = t.paper_vectors
        with self._write() as conn:
            pg = _pg_table()
            # Walks paper_vectors by its primary key and probes the table's: each chunk reads only
            # its own rows (an anti-join over the whole table per chunk cost minutes at 100k).
            rows = conn.execute(
                select(v.c.seq, v.c.paper_id, v.c.model, v.c.vector)
                .where(v.c.model == model, v.c.seq > after,
                       ~select(pg.c.paper_id).where(pg.c.paper_id == v.c.paper_id).exists())
                .order_by(v.c.seq).limit(limit)).all()
            _pg_insert(conn, [(r[1], r[2], r[3]) for r in rows])
            return len(rows), (rows[-1][0] if rows else after)

    def pgvector_index(self, m: int, ef_construction: int, work_mem: str) -> bool:
        """Build the HNSW index (cosine) on the pgvector table if it has none; True if built.
        ``work_mem`` is the maintenance_work_mem of the build: pgvector builds far faster while
        the graph fits in it."""
        with self._write() as conn:
            if conn.execute(text("SELECT to_regclass(:name)"), {"name": PGVECTOR_INDEX}).scalar() is not None:
                return False
            conn.execute(text("SELECT set_config('maintenance_work_mem', :mem, true)"), {"mem": work_mem})
            conn.execute(text(
                f"CREATE INDEX IF NOT EXISTS {PGVECTOR_INDEX} ON {PGVECTOR_TABLE} "
                "USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"))
            return True

    def pgvector_count(self, model: str) -> int:
        """Vectors of ``model`` in the pgvector table."""
        with self._read() as conn:
            pg = _pg_table()
            return int(conn.execute(select(func.count()).select_from(pg).where(pg.c.model == model)).scalar_one())

    def pgvector_search(self, model: str, query: np.ndarray, k: int, ef_search: int) -> list[tuple[str, float]]:
        """The ``k`` nearest papers to ``query`` by cosine through the HNSW index, best first, with
        their cosine similarity. pgvector's HNSW scan yields at most ``hnsw.ef_search`` rows, so it
        is set to at least ``k`` for this query's transaction."""
        with self._read() as conn, conn.begin():
            conn.execute(text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": str(max(ef_search, k))})
            rows = conn.execute(text(
                f"SELECT paper_id, embedding <=> CAST(:q AS vector) AS distance FROM {PGVECTOR_TABLE} "
                "WHERE model = :model ORDER BY distance LIMIT :k"),
                {"q": _literal(query), "model": model, "k": k}).all()
        return [(r[0], 1.0 - float(r[1])) for r in rows]

    def vector_of(self, model: str, paper_id: str) -> bytes | None:
        """A paper's stored vector bytes, or None."""
        v = t.paper_vectors
        with self._read() as conn:
            return conn.execute(select(v.c.vector).where(v.c.paper_id == paper_id, v.c.model == model)).scalar()


PGVECTOR_TABLE = "paper_vectors_pgvector"
PGVECTOR_INDEX = "ix_paper_vectors_pgvector_hnsw"


def _pg_table() -> Table:
    # Not in schema.py: the table exists only where the index step made it (see pgvector_prepare).
    # The vector column is not needed by the queries built with this object, so it is left out.
    return Table(PGVECTOR_TABLE, MetaData(), Column("paper_id", String(64)), Column("model", String(60)))


def _has_pgvector(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and \
        conn.execute(text("SELECT to_regclass(:name)"), {"name": PGVECTOR_TABLE}).scalar() is not None


def _literal(vector: np.ndarray | bytes) -> str:
    """pgvector's text form of a vector. The float32 values are printed as the shortest decimal of
    their double value, which reads back as the same float32."""
    values = np.frombuffer(vector, dtype="<f4") if isinstance(vector, bytes) else np.asarray(vector, np.float32)
    return "[" + ",".join(map(repr, values.tolist())) + "]"


def _pg_insert(conn: Connection, rows: list[tuple[str, str, bytes]], replace: bool = False) -> None:
    # Sent with a binary COPY into a staging table, then inserted from it: formatting vectors as
    # text took 1.9 s per 2,000 (95 s of copying 100k papers), the binary form takes a numpy
    # byte swap. ``save`` holds the newest vector and overwrites; a fill that races it may hold an
    # older one (read before the save), so it never overwrites.
    if not rows:
        return
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (paper_id VARCHAR(64), model VARCHAR(60), "
                      "embedding vector) ON COMMIT DELETE ROWS"))
    driver: Any = conn.connection.driver_connection  # psycopg's, inside this transaction
    with driver.cursor() as cur, \
            cur.copy(f"COPY {_STAGE} (paper_id, model, embedding) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_binary_copy(rows))
    conflict = "DO UPDATE SET model = excluded.model, embedding = excluded.embedding" if replace else "DO NOTHING"
    conn.execute(text(f"INSERT INTO {PGVECTOR_TABLE} (paper_id, model, embedding) "
                      f"SELECT paper_id, model, embedding FROM {_STAGE} ON CONFLICT (paper_id) {conflict}"))
    conn.execute(text(f"DELETE FROM {_STAGE}"))


_STAGE = "pg_temp.paper_vectors_pgvector_in"


def _binary_copy(rows: list[tuple[str, str, bytes]]) -> bytes:
    """PostgreSQL's binary COPY of (paper id, model, vector) rows; a vector as pgvector receives
    it: its dimension and a reserved zero (int16 each), then its float32 values, big-endian."""
    parts = [b"PGCOPY\n\xff\r\n\x00", struct.pack("!ii", 0, 0)]
    for paper_id, model, blob in rows:
        pid, name = paper_id.encode(), model.encode()
        values = np.frombuffer(blob, dtype="<f4").astype(">f4").tobytes()
        parts += [struct.pack("!hi", 3, len(pid)), pid, struct.pack("!i", len(name)), name,
                  struct.pack("!ihh", 4 + len(values), len(values) // 4, 0), values]
    parts.append(struct.pack("!h", -1))
    return b"".join(parts)
