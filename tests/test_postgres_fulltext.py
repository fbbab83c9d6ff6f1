"""Full text on PostgreSQL gives what FTS5 gives on SQLite: the same papers in the same order with
the same bm25 scores, for the same data, before and after the text changes; and migration 0015
moves the rows stored before it out of the TOAST table without changing a result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from conftest import PG_SECRET
from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.models import SearchFilters
from papertrend.search.query import parse
from papertrend.store import Store, migrations, open_store, schema
from papertrend.store.search import index_pending_terms
from pg_server import PgServer

LISTINGS = ("2026-06-29.jsonl", "2026-07-01.jsonl")  # ~600 real papers: enough words, a quick import
QUERIES = ['"large language models"', "language model", "reasoning benchmark", "Know what you don't know: knowing",
           '"chain of thought" reasoning', "diffusion video generation", "the of and", "zzqx unheardof"]
FILTERS = [SearchFilters(), SearchFilters(category="cs.CL"), SearchFilters(date_from="2026-07-01", has_code=True)]


def _both(tmp_path: Path, pg_server: PgServer, pg_migrated: str) -> tuple[Store, Store]:
    sqlite = open_store(load_settings(database_url=f"sqlite:///{tmp_path / 'papers.db'}"))
    pg = open_store(load_settings(database_url=pg_server.url_for(pg_server.database(pg_migrated)),
                                  secret_key=PG_SECRET))
    return sqlite, pg


def _import(stores: tuple[Store, ...], paths: list[Path]) -> None:
    for store in stores:
        import_paths(store, load_settings(database_url=str(store.engine.url), secret_key=PG_SECRET,
                                          embed_on_import=False), paths)


def _same(sqlite: Store, pg: Store, match: str, filters: SearchFilters, **kwargs: object) -> None:
    a = sqlite.search.fulltext(match, filters, 20, **kwargs)  # type: ignore[arg-type]
    b = pg.search.fulltext(match, filters, 20, **kwargs)  # type: ignore[arg-type]
    assert [s for _, s in b] == pytest.approx([s for _, s in a], rel=1e-9), match
    scores = [round(s, 9) for _, s in a]
    if len(set(scores)) == len(scores):  # equal scores are ordered by key, which differs for rowids
        assert [k for k, _ in b] == [k for k, _ in a], match


@pytest.fixture
def stores(tmp_path: Path, shared: Path, pg_server: PgServer, pg_migrated: str) -> Iterator[tuple[Store, Store]]:
    sqlite, pg = _both(tmp_path, pg_server, pg_migrated)
    _import((sqlite, pg), [shared / "arxiv-listings" / name for name in LISTINGS])
    yield sqlite, pg
    sqlite.close()
    pg.close()


def test_postgresql_ranks_like_fts5(stores: tuple[Store, Store]) -> None:
    sqlite, pg = stores
    assert len(pg.search.fulltext(parse("language model").match("any"), SearchFilters(), 20)) == 20
    for q in QUERIES:
        query = parse(q)
        for filters in FILTERS:
            for mode in ("any", "all"):
                _same(sqlite, pg, query.match(mode), filters)
                _same(sqlite, pg, query.match(mode, ("title",)), filters, by_rowid=True)
                _same(sqlite, pg, query.match(mode, ("title", "abstract")), filters)
        # other column weights (bench_relevance tries them), one of them zero
        _same(sqlite, pg, query.match("any"), SearchFilters(), field_weights=(0.0, 8.0, 1.0, 0.0, 3.0))


def test_postgresql_scores_follow_text_changes(stores: tuple[Store, Store], tmp_path: Path) -> None:
    """The corpus figures PostgreSQL keeps between searches (row count, lengths, how many rows
    hold a word) move with the text: an edit, a new paper and a deletion change the scores on
    both stores alike."""
    sqlite, pg = stores
    match = parse("zanzibar verification reasoning").match("any")
    _same(sqlite, pg, match, SearchFilters())   # the figures are read and kept
    _same(sqlite, pg, match, SearchFilters())   # and used again
    feed = tmp_path / "edit.xml"
    feed.write_text("""<feed xmlns="http://www.w3.org/2005/Atom">
      <entry><id>http://arxiv.org/abs/2607.26627v9</id><title>Zanzibar lossy verification</title>
        <summary>Zanzibar reasoning, verified.</summary><author><name>A</name></author></entry>
      <entry><id>http://arxiv.org/abs/2607.99901v1</id><title>Zanzibar again</title>
        <summary>A second zanzibar paper about verification.</summary><author><name>B</name></author></entry>
    </feed>""")
    _import((sqlite, pg), [feed])
    found = pg.search.fulltext(match, SearchFilters(), 20)
    assert {"2607.26627", "2607.99901"} <= {pid for pid, _ in found}
    _same(sqlite, pg, match, SearchFilters())
    for store in (sqlite, pg):
        with store.write() as conn:
            conn.execute(schema.papers.delete().where(schema.papers.c.id == "2607.99901"))
    assert "2607.99901" not in {pid for pid, _ in pg.search.fulltext(match, SearchFilters(), 20)}
    _same(sqlite, pg, match, SearchFilters())


def test_migration_moves_stored_rows_out_of_toast(stores: tuple[Store, Store], pg_server: PgServer) -> None:
    """A deployment whose papers were stored before 0015 keeps its results, and its rows leave
    the TOAST table (where every ranked row was a second read)."""
    _, migrated = stores
    url = pg_server.url_for(pg_server.database())
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn, [m for m in migrations.MIGRATIONS if m[0] < "0015"])
            with migrated.read() as source:
                papers = [dict(r._mapping) for r in source.execute(select(schema.papers))]
                categories = [dict(r._mapping) for r in source.execute(select(schema.paper_categories))]
            conn.execute(schema.papers.insert(), papers)  # the trigger writes papers_fts
            conn.execute(schema.paper_categories.insert(), categories)
            assert index_pending_terms(conn) == len(papers)
        assert _toast_bytes(engine) > 0
        with engine.begin() as conn:
            assert migrations.upgrade(conn) == ["0015_postgres_fulltext_inline"]
        assert _toast_bytes(engine) == 0
        upgraded = open_store(load_settings(database_url=url, secret_key=PG_SECRET))
        for q in QUERIES:
            for filters in FILTERS:
                _same(migrated, upgraded, parse(q).match("any"), filters)
        upgraded.close()
    finally:
        engine.dispose()


def _toast_bytes(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_relation_size(reltoastrelid) FROM pg_class "
                                     "WHERE relname = 'papers_fts'")).scalar_one())
