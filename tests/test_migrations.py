"""Migrations carry their own DDL: a database made by a released version upgrades in place to
exactly the schema a fresh database gets, and keeps every row."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Float, Integer, inspect, text

from conftest import PG_SECRET
from papertrend.config import load_settings
from papertrend.store import Store, migrations, open_store
from papertrend.store import schema as t
from papertrend.store.migrations import MIGRATIONS

FIXTURE = Path(__file__).parent / "fixtures" / "db" / "landed-0006.db.gz"


def _schema(path: Path) -> dict[str, object]:
    """Tables with their columns (name, type, not null, default, pk), indexes and triggers."""
    db = sqlite3.connect(path)
    try:
        out: dict[str, object] = {}
        for kind, name, table, sql in db.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"):
            if kind == "table" and not name.startswith("papers_fts"):
                out[f"table {name}"] = sorted(tuple(r[1:]) for r in db.execute(f"PRAGMA table_info('{name}')"))
            elif kind in ("index", "trigger") or name == "papers_fts":
                out[f"{kind} {name}"] = (table, " ".join((sql or "").split()))
        return out
    finally:
        db.close()


def _old_database(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    path.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    return path


# SQLite only, on purpose: the released database is a landed SQLite file (fixtures/db); the
# same upgrade on PostgreSQL is test_a_database_at_0006_upgrades_to_todays_schema_with_its_papers.
def test_released_database_upgrades_to_the_fresh_schema_and_keeps_its_rows(tmp_path: Path, run_cli) -> None:
    old = _old_database(tmp_path)
    before = sqlite3.connect(old)
    counts = {name: before.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
              for name in ("papers", "paper_signals", "trending", "subscribers", "outbox", "sent_papers", "job_runs",
                           "paper_text_log", "papers_fts", "repos")}
    titles = dict(before.execute("SELECT id, title FROM papers"))
    before.close()
    assert counts["papers"] == 50 and counts["outbox"] == 1

    settings = load_settings(database_url=f"sqlite:///{old}")
    store = Store(settings)
    assert store.pending_migrations() == [name for name, _ in MIGRATIONS[6:]]
    result = run_cli("--database-url", f"sqlite:///{old}", "db", "upgrade")
    assert "0007_drop_dead_trending_columns" in result.output
    assert store.pending_migrations() == []

    fresh = tmp_path / "fresh.db"
    open_store(load_settings(database_url=f"sqlite:///{fresh}")).close()
    store.close()
    assert _schema(old) == _schema(fresh)

    after = sqlite3.connect(old)
    assert {name: after.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in counts} == counts
    assert dict(after.execute("SELECT id, title FROM papers")) == titles
    after.close()
    # The upgraded papers read back through today's declaration.
    store = open_store(settings)
    papers = store.papers.get_many(list(titles))
    assert len(papers) == 50
    # 0010 filled the author index from the stored papers: an author's page finds their papers.
    author = next(a.name for p in papers.values() for a in p.authors)
    total, listed = store.papers.by_author(author.upper(), limit=100)
    assert total >= 1 and all(any(a.name == author for a in p.authors) for p in listed)
    store.close()


def test_migrated_tables_are_todays_table_definitions(store_kind: str, database_url: str) -> None:
    """schema.py (what queries use) and the migrations (what databases have) never drift apart,
    on either store."""
    secret = None if store_kind == "sqlite" else PG_SECRET
    open_store(load_settings(database_url=database_url, secret_key=secret)).close()
    found = _columns(database_url, secret)
    if store_kind == "postgresql":   # SQLite's implicit rowid, a real identity column on PostgreSQL (0012)
        assert found["papers"].pop("rowid") == (False, False)
    for table in t.metadata.sorted_tables:
        stored = found[table.name]
        assert set(stored) == set(table.columns.keys()), table.name
        for name, column in table.columns.items():
            nullable, primary = stored[name]
            assert primary == column.primary_key, f"{table.name}.{name}: primary key"
            if not column.primary_key:
                assert nullable == column.nullable, f"{table.name}.{name}: NOT NULL"


def _columns(url: str, secret: str | None) -> dict[str, dict[str, tuple[bool, bool]]]:
    """Each table's columns: (nullable, part of the primary key), as the database reports them."""
    store = Store(load_settings(database_url=url, secret_key=secret))
    try:
        with store.read() as conn:
            found = inspect(conn)
            return {table: {c["name"]: (bool(c["nullable"]), c["name"] in
                                        (found.get_pk_constraint(table)["constrained_columns"] or []))
                            for c in found.get_columns(table)}
                    for table in found.get_table_names() if not table.startswith(("papers_fts_", "sqlite_"))}
    finally:
        store.close()


def test_a_database_at_0006_upgrades_to_todays_schema_with_its_papers(store_kind: str, tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    """On SQLite and on PostgreSQL: a database left at 0006 holding papers takes every later
    migration (the community tables, the author index and feed secrets, and on PostgreSQL its own
    full text, all filled from the stored papers) and ends with the tables a fresh one gets."""
    def empty(name: str) -> str:
        if store_kind == "sqlite":
            return f"sqlite:///{tmp_path / name}"
        pg = request.getfixturevalue("pg_server")
        db = pg.database()
        request.addfinalizer(lambda: pg.drop(db))
        return str(pg.url_for(db))

    secret = None if store_kind == "sqlite" else PG_SECRET
    old, fresh = empty("old.db"), empty("fresh.db")
    store = Store(load_settings(database_url=old, secret_key=secret))
    try:
        with store.write() as conn:
            migrations.upgrade(conn, MIGRATIONS[:6])
            papers = inspect(conn).get_columns("papers")
            for n in range(3):
                row = {c["name"]: 0 if isinstance(c["type"], Integer | Float) else f"x{n}" for c in papers
                       if not c["nullable"] and c.get("default") is None}
                row.update(id=f"2607.0000{n}", title=f"Paper {n}", abstract="Zanzibar drafts.",
                           authors_json=json.dumps([{"name": "Ada Lovelace"}, {"name": f"Author {n}"}]),
                           ai_keywords_json="[]", categories_json='["cs.CL"]')
                keys = [k for k in row if k in {c["name"] for c in papers}]
                names, values = ", ".join(keys), ", ".join(":" + k for k in keys)
                conn.execute(text(f"INSERT INTO papers ({names}) VALUES ({values})"), {k: row[k] for k in keys})
        assert store.pending_migrations() == [name for name, _ in MIGRATIONS[6:]]
        assert store.upgrade() == [name for name, _ in MIGRATIONS[6:]]
        assert store.pending_migrations() == []
        total, listed = store.papers.by_author("ada lovelace", limit=10)
        assert total == 3 and {p.id for p in listed} == {f"2607.0000{n}" for n in range(3)}
    finally:
        store.close()
    open_store(load_settings(database_url=fresh, secret_key=secret)).close()
    assert _columns(old, secret) == _columns(fresh, secret)
