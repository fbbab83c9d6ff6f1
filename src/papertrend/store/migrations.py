"""Named, ordered schema migrations, recorded in ``schema_migrations``.

Run by ``papertrend db upgrade`` (and automatically on an empty database). Never on import.
A migration is a function of a connection inside the upgrade's transaction; add new ones at
the end, never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, inspect, select

from . import schema

Migration = tuple[str, Callable[[Connection], None]]


def _initial(conn: Connection) -> None:
    for table in (schema.papers, schema.paper_categories, schema.paper_signals, schema.repo_stars,
                  schema.paper_sources, schema.ingest_runs):
        table.create(conn, checkfirst=True)


def _trending(conn: Connection) -> None:
    schema.repos.create(conn, checkfirst=True)
    schema.trending.create(conn, checkfirst=True)
    # Repositories already linked by papers start out as never checked.
    conn.exec_driver_sql(
        "INSERT INTO repos (repo, status) SELECT DISTINCT lower(substr(code_url, 20)), 'new' FROM papers "
        "WHERE code_url LIKE 'https://github.com/%'")


FTS_COLUMNS = "paper_id UNINDEXED, title, abstract, authors, keywords"
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"  # search/lexical.py tokenizes the same way
_FTS_VALUES = ("new.id, new.title, new.abstract, "
               "(SELECT group_concat(value->>'name', ', ') FROM json_each(new.authors_json)), "
               "(SELECT group_concat(value, ', ') FROM json_each(new.ai_keywords_json))")


def _search(conn: Connection) -> None:
    schema.paper_vectors.create(conn, checkfirst=True)
    if conn.dialect.name != "sqlite":
        return  # PostgreSQL gets its own full-text index in a later migration
    # The FTS table keeps its own copy of the text; triggers keep it in step with papers.
    conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5({FTS_COLUMNS}, "
                         f"tokenize = '{FTS_TOKENIZE}')")
    conn.exec_driver_sql(f"""CREATE TRIGGER IF NOT EXISTS papers_fts_insert AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords) VALUES (new.rowid, {_FTS_VALUES});
        END""")
    conn.exec_driver_sql("""CREATE TRIGGER IF NOT EXISTS papers_fts_delete AFTER DELETE ON papers BEGIN
        DELETE FROM papers_fts WHERE rowid = old.rowid; END""")
    conn.exec_driver_sql(f"""CREATE TRIGGER IF NOT EXISTS papers_fts_update
        AFTER UPDATE OF title, abstract, authors_json, ai_keywords_json ON papers BEGIN
        DELETE FROM papers_fts WHERE rowid = old.rowid;
        INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords) VALUES (new.rowid, {_FTS_VALUES});
        END""")
    conn.exec_driver_sql(f"""INSERT INTO papers_fts (rowid, paper_id, title, abstract, authors, keywords)
        SELECT new.rowid, {_FTS_VALUES} FROM papers AS new""")


def _worker(conn: Connection) -> None:
    for table in (schema.rate_limits, schema.ingest_cursors, schema.job_runs, schema.job_locks):
        table.create(conn, checkfirst=True)


def _digests(conn: Connection) -> None:
    for table in (schema.subscribers, schema.sent_papers, schema.outbox, schema.rate_events):
        table.create(conn, checkfirst=True)


def _text_log(conn: Connection) -> None:
    schema.paper_text_log.create(conn, checkfirst=True)
    if conn.dialect.name != "sqlite":
        return
    for event, ref in (("INSERT", "new"), ("UPDATE OF title, abstract, authors_json, ai_keywords_json", "new"),
                       ("DELETE", "old")):
        name = "papers_text_log_" + event.split()[0].lower()
        conn.exec_driver_sql(f"""CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON papers BEGIN
            INSERT INTO paper_text_log (paper_rowid) VALUES ({ref}.rowid); END""")
    conn.exec_driver_sql("INSERT INTO paper_text_log (paper_rowid) SELECT rowid FROM papers ORDER BY rowid")


MIGRATIONS: list[Migration] = [
    ("0001_initial", _initial),
    ("0002_repos_and_trending", _trending),
    ("0003_search", _search),
    ("0004_worker", _worker),
    ("0005_digests", _digests),
    ("0006_text_log", _text_log),
]


def applied(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("schema_migrations"):
        return set()
    return set(conn.execute(select(schema.schema_migrations.c.name)).scalars())


def pending(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    done = applied(conn)
    return [name for name, _ in (migrations or MIGRATIONS) if name not in done]


def upgrade(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is pending, in order; returns the names applied."""
    schema.schema_migrations.create(conn, checkfirst=True)
    done = applied(conn)
    ran = []
    for name, step in migrations or MIGRATIONS:
        if name in done:
            continue
        step(conn)
        conn.execute(schema.schema_migrations.insert().values(
            name=name, applied_at=datetime.now(UTC).isoformat(timespec="seconds")))
        ran.append(name)
    return ran
