"""What every sub-store shares: the store's connections. Sub-stores own their transactions."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from collections.abc import Sequence

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from . import Store


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SubStore:
    """One concept's SQL (papers, signals, runs, ...). Each public method is one transaction."""

    def __init__(self, store: "Store") -> None:
        self._store = store

    def _read(self) -> AbstractContextManager[Connection]:
        return self._store.read()

    def _write(self) -> AbstractContextManager[Connection]:
        return self._store.write()


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that knows ON CONFLICT, in the connection's dialect (SQLite and PostgreSQL spell it
    alike; SQLAlchemy's generic insert has no such clause)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def insert_new(conn: Connection, table: Table, key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Insert the rows whose ``key`` is not stored yet; stored ones are left as they are.

    The unique constraint on ``key`` decides (ON CONFLICT DO NOTHING), never a read before the
    write: two processes inserting the same row at once both succeed, and it is stored once."""
    if not rows:
        return
    unique = list({tuple(r[k] for k in key): r for r in rows}.values())
    conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key)), unique)


def lock_name(conn: Connection, name: str) -> None:
    """Serialise the rest of this transaction with every other one that locks ``name``: a
    transaction-scoped advisory lock on PostgreSQL; SQLite's write transaction (BEGIN IMMEDIATE)
    is already the only writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


def upsert(conn: Connection, table: Table, key: Sequence[str], rows: list[dict[str, Any]],
           update: Sequence[str]) -> None:
    """Insert ``rows``; where ``key`` is already stored, set the ``update`` columns to the new
    values instead. One statement on both stores (ON CONFLICT DO UPDATE), safe under concurrent
    writers."""
    if not rows:
        return
    stmt = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key)) if not update else None
    if stmt is None:
        base = dialect_insert(conn, table)
        stmt = base.on_conflict_do_update(index_elements=list(key), set_={c: base.excluded[c] for c in update})
    conn.execute(stmt, rows)
