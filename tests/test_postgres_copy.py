"""`papertrend db copy --to postgresql+psycopg://...`: a SQLite deployment moved to PostgreSQL
(and back), as an operator does it, on the shared data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from conftest import PG_SECRET, Cli
from papertrend.accounts.signin import add_user
from papertrend.config import load_settings
from papertrend.store import Store, open_store, transfer
from pg_server import PgServer


def _dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every copied table, in key order."""
    out = {}
    with store.read() as conn:
        for table in transfer.tables():
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


def _deployment(tmp_path: Path, shared: Path) -> tuple[str, Cli]:
    url = f"sqlite:///{tmp_path / 'papers.db'}"
    cli = Cli(load_settings(database_url=url))
    cli("import", str(shared / "hf-daily"), str(shared / "arxiv-listings"), ok=False)
    cli("rank", "recompute")
    cli("users", "add", "admin@example.org", "--role", "admin")
    store = open_store(load_settings(database_url=url))
    try:
        ids = [p.id for p in store.papers.in_range("2026-07-31", "2026-07-31", limit=40)]
        rng = np.random.default_rng(7)
        store.vectors.save([{"paper_id": pid, "model": "test-model", "text_hash": f"{i:016x}",
                             "vector": rng.standard_normal(384).astype(np.float32).tobytes()}
                            for i, pid in enumerate(ids)])
        # The community's rows, thumbnails and feed addresses travel too (migrations 0009-0011).
        admin = store.accounts.by_email("admin@example.org")
        assert admin is not None
        readers = [add_user(store, f"voter{n}@example.org", "reader") for n in range(3)]
        for n, reader in enumerate(readers):
            for pid in ids[:n + 2]:
                assert store.community.vote(reader.id, pid, True, 1785500000.0 + n, f"client{n}")
            store.community.save(reader.id, ids[n], True, 1785500100.0 + n)
            store.feed_secrets.renew(reader.id, f"{n:064x}", "2026-07-31T00:00:00+00:00")
        first = store.community.add_comment(ids[0], readers[0].id, None, "A **first** comment", 1785500200.0)
        assert first is not None
        store.community.add_comment(ids[0], readers[1].id, first, "A reply", 1785500300.0)
        store.community.report("comment", str(first), readers[2].id, "spam?", 1785500400.0)
        store.community.moderate(admin.id, "hide", "paper", ids[5], "off topic", 1785500500.0)
        store.community.record_submission(ids[6], readers[0].id, 1785500600.0)
        store.community.set_votes_public(readers[0].id, True)
        day = "2026-07-31T00:00:00+00:00"
        store.papers.record_thumbnail(ids[0], "https://example.org/a.png", "a.png", None, day)
        store.papers.record_thumbnail(ids[1], "https://example.org/b.png", None, "HTTP 404", day)
        for n in range(3):
            sub, _ = store.digests.upsert_pending(f"reader{n}@example.org", "daily", ["diffusion"], [], [],
                                                  "2026-07-31T00:00:00+00:00", "2026-08-07T00:00:00+00:00")
            store.digests.set_status(sub.id, "confirmed", "2026-07-31T00:00:00+00:00")
    finally:
        store.close()
    cli("digest", "build", "--frequency", "daily", "--period", "2026-07-31")
    return url, cli


def test_copy_to_postgresql_and_back_keeps_every_row(tmp_path: Path, shared: Path, pg_server: PgServer) -> None:
    url, cli = _deployment(tmp_path, shared)
    source = open_store(load_settings(database_url=url))
    before = _dump(source)
    source.close()
    for table in ("papers", "paper_signals", "paper_vectors", "subscribers", "outbox", "sent_papers", "users",
                  "ingest_runs", "trending", "paper_sources", "votes", "comments", "library", "reports",
                  "hidden_papers", "moderation_log", "submissions", "profiles", "community_events",
                  "paper_thumbnails", "paper_authors", "feed_secrets"):
        assert before[table], f"the deployment under test has no {table}"

    pg_url = pg_server.url_for(pg_server.database())
    copied = cli("db", "copy", "--to", pg_url)
    assert "every count matches" in copied.stdout
    assert f"{len(before['papers']):,} rows copied" in copied.stdout

    pg = open_store(load_settings(database_url=pg_url, secret_key=PG_SECRET))
    try:
        assert _dump(pg) == before
        # What triggers derive was written by PostgreSQL's own: full text finds the papers.
        with pg.read() as conn:
            log = conn.exec_driver_sql("SELECT count(*) FROM paper_text_log").scalar_one()
        assert log == len(before["papers"])
        # New rows get new ids after the copied ones (the sequences continue).
        sub, _ = pg.digests.upsert_pending("new@example.org", "daily", [], [], [], "2026-08-01T00:00:00+00:00",
                                           "2026-08-08T00:00:00+00:00")
        assert sub.id > max(r[0] for r in before["subscribers"])
    finally:
        pg.close()
    pg_cli = Cli(load_settings(database_url=pg_url, secret_key=PG_SECRET))
    found = json.loads(pg_cli("search", "speculative decoding", "--mode", "fulltext", "--json").stdout)
    assert found and any("peculative" in r["title"] for r in found[:5])

    # Back again, into a new SQLite file: the same rows (and the new subscriber).
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    pg_cli("db", "copy", "--to", back_url)
    back = open_store(load_settings(database_url=back_url))
    try:
        after = _dump(back)
    finally:
        back.close()
    assert after["subscribers"][:-1] == before["subscribers"]
    assert {k: v for k, v in after.items() if k != "subscribers"} == \
        {k: v for k, v in before.items() if k != "subscribers"}


def test_copy_refuses_a_database_that_is_not_empty(tmp_path: Path, shared: Path, pg_server: PgServer) -> None:
    url = f"sqlite:///{tmp_path / 'papers.db'}"
    cli = Cli(load_settings(database_url=url))
    cli("import", str(shared / "hf-daily" / "2026-07-31.json"))
    pg_url = pg_server.url_for(pg_server.database())
    cli("db", "copy", "--to", pg_url)
    again = cli("db", "copy", "--to", pg_url, ok=False)
    assert again.exit_code == 1
    assert "the target database is not empty: " in again.output and "papers (34 rows)" in again.output
    stores = [open_store(load_settings(database_url=u, secret_key=PG_SECRET)) for u in (pg_url, url)]
    try:
        assert stores[0].papers.count() == stores[1].papers.count() > 0
    finally:
        for s in stores:
            s.close()
