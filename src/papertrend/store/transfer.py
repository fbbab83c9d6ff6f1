"""Copying a whole deployment from one store to another (``papertrend db copy``): SQLite to
PostgreSQL when a deployment outgrows one machine, or back.

The tables are today's schema (``schema.metadata``), in foreign-key order, so a table another
change adds is copied without a line here. What triggers derive from the papers (the full-text
index and ``paper_text_log``) is not copied: the target's own triggers write it as the papers
arrive. The copy is one transaction on the target: it is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, Table, func, inspect, select, text

from ..errors import StoreError
from . import schema as t
from .search import index_pending_terms

# Written by the target's triggers when papers are inserted, never copied.
DERIVED = frozenset({"paper_text_log"})
BATCH = 2000

Progress = Callable[[str, int], None]  # (table, rows copied so far in it)


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def tables() -> list[Table]:
    """The tables a copy moves, parents before children."""
    return [table for table in t.metadata.sorted_tables if table.name not in DERIVED | {"schema_migrations"}]


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def unknown_tables(conn: Connection) -> list[str]:
    """Tables in a database that today's schema does not declare (and that are not a store's own
    machinery): a copy would leave them behind, so it refuses."""
    known = {table.name for table in t.metadata.sorted_tables}
    own = {"papers_fts"}
    return sorted(name for name in inspect(conn).get_table_names()
                  if name not in known and name not in own and not name.startswith(("papers_fts_", "sqlite_")))


def counts(source: Connection, target: Connection) -> list[TableCount]:
    return [TableCount(table.name, _count(source, table), _count(target, table)) for table in tables()]


def copy_tables(source: Connection, target: Connection, progress: Progress | None = None) -> list[TableCount]:
    """Copy every table of the schema from ``source`` into the empty ``target`` (both migrated to
    the same version), then check that each table holds as many rows on both sides."""
    strays = unknown_tables(source)
    if strays:
        raise StoreError(f"the source database has tables this version does not know: {', '.join(strays)}; "
                         "upgrade papertrend (or drop them) before copying")
    full = [(table.name, n) for table in tables() if (n := _count(target, table))]
    if full:
        listed = ", ".join(f"{name} ({n} rows)" for name, n in full)
        raise StoreError(f"the target database is not empty: {listed}; copy into a new, empty database")
    for table in tables():
        done = 0
        if progress:
            progress(table.name, 0)
        order = list(table.primary_key.columns) or list(table.columns)
        result = source.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
        for rows in result.partitions(BATCH):
            target.execute(table.insert(), [dict(row._mapping) for row in rows])
            done += len(rows)
            if progress:
                progress(table.name, done)
        _reset_sequence(target, table)
    if target.dialect.name == "postgresql":
        index_pending_terms(target)
    found = counts(source, target)
    wrong = [c for c in found if not c.ok]
    if wrong:
        raise StoreError("the copy does not match: " + ", ".join(f"{c.table} {c.source} -> {c.target}" for c in wrong))
    return found


def _reset_sequence(conn: Connection, table: Table) -> None:
    """Rows were copied with their ids: PostgreSQL's sequence must continue after the largest, or
    the next insert would hand out an id already taken. (SQLite continues from the largest itself.)"""
    if conn.dialect.name != "postgresql":
        return
    for column in table.primary_key.columns:
        if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
            conn.execute(text("SELECT setval(pg_get_serial_sequence(:table, :column), "
                              f"coalesce((SELECT max({column.name}) FROM {table.name}), 0) + 1, false) "
                              "WHERE pg_get_serial_sequence(:table, :column) IS NOT NULL"),
                         {"table": table.name, "column": column.name})
