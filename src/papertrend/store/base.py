"""What every sub-store shares: the store's connections. Sub-stores own their transactions."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, select

from .batching import chunks

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


def insert_new(conn: Connection, table: Table, key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Insert the rows whose ``key`` is not stored yet; stored ones are left as they are."""
    if not rows:
        return
    unique = {tuple(r[k] for k in key): r for r in rows}
    existing: set[tuple[Any, ...]] = set()
    cols = [table.c[k] for k in key]
    for chunk in chunks(sorted({k[0] for k in unique})):
        existing.update(tuple(r) for r in conn.execute(select(*cols).where(table.c[key[0]].in_(chunk))))
    fresh = [r for k, r in unique.items() if k not in existing]
    if fresh:
        conn.execute(table.insert(), fresh)
