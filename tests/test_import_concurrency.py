"""Two ``papertrend import`` processes at once on one database (SQLite, and PostgreSQL at READ
COMMITTED), importing overlapping files in opposite orders: each finds papers the other is
writing (by arXiv id, and by title for a listing without ids), and rewrites their authors and
categories (delete, then insert) as a second source brings them. Both succeed, and what is stored
is exactly what one process importing the same files stores: no paper twice, no author or category
row twice or lost, no signal or provenance row lost.

Importers take turns per batch (``PaperStore.apply`` locks ``papers.apply``: an advisory lock on
PostgreSQL, SQLite's one writer): without it, two batches both find a paper new and both insert
it, or both delete a paper's authors and both insert them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from papertrend.config import Settings
from papertrend.ids import author_key
from papertrend.store import open_store, schema as t
from conftest import Cli

BATCH = "10"   # small batches: many transactions of each process interleave with the other's


def _files(shared: Path) -> list[Path]:
    days = ("2026-06-17", "2026-06-18", "2026-06-19")
    return ([shared / "hf-daily" / f"{d}.json" for d in ("2026-06-16", *days)]
            + [shared / "arxiv-listings" / f"{d}.jsonl" for d in days]
            + [shared / "listing-text" / "hf-trending-page.txt"])


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "PAPERTREND_DATABASE_URL": str(settings.database_url), "PAPERTREND_EMBED_ON_IMPORT": "false",
           "PAPERTREND_IMPORT_BATCH_SIZE": BATCH}
    if settings.snapshot_dir:
        env["PAPERTREND_SNAPSHOT_DIR"] = settings.snapshot_dir
    return env


# Everything an import writes, without what differs between two runs of it (times, run ids).
TABLES: dict[str, tuple[str, ...]] = {
    "papers": ("first_seen", "last_changed"),
    "paper_authors": (),
    "paper_categories": (),
    "paper_signals": (),
    "paper_sources": ("first_run_id", "first_seen"),
    "repo_stars": (),
    "repos": (),
}


def _state(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    store = open_store(settings)
    out = {}
    with store.read() as conn:
        for name, skipped in TABLES.items():
            table = getattr(t, name)
            cols = [c for c in table.c if c.name not in skipped]
            out[name] = sorted(tuple(row) for row in conn.execute(select(*cols)))
    store.close()
    return out


def test_two_importers_at_once_store_what_one_would(settings: Settings, empty_database_url: str, shared: Path,
                                                    tmp_path: Path) -> None:
    files = _files(shared)
    env = _env(settings)
    subprocess.run([sys.executable, "-m", "papertrend.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    procs = [subprocess.Popen([sys.executable, "-m", "papertrend.cli", "import", "--json", *map(str, order)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for order in (files, files[::-1])]
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        # The error's own lines, not the megabytes of parameters SQLAlchemy prints after them.
        assert proc.returncode == 0, "\n".join(line[:300] for line in err.splitlines() if "Error" in line)[:3000]
    summaries = [json.loads(out) for out, _ in outs]

    store = open_store(settings)
    runs = store.runs.ingest_runs()
    store.close()
    assert [r.status for r in runs] == ["ok", "ok"], [(r.status, r.errors) for r in runs]
    # The two runs overlapped in time: each started before the other finished.
    first, second = sorted(runs, key=lambda r: r.started_at)
    assert second.started_at <= first.finished_at, "the importers ran one after the other: nothing was tested"

    # The same files imported once, by one process, into another database of the same store.
    alone = settings.replace(database_url=empty_database_url, snapshot_dir=str(tmp_path / "alone"))
    once = Cli(alone)
    once.env["PAPERTREND_IMPORT_BATCH_SIZE"] = BATCH
    once("db", "upgrade")
    single = json.loads(once("import", "--json", *map(str, files)).stdout)

    together, expected = _state(settings), _state(alone)
    papers = {row[0] for row in expected["papers"]}
    assert len(papers) > 800 and sum(s["new"] for s in summaries) == single["new"] == len(papers)
    for name in TABLES:
        got, want = together[name], expected[name]
        assert len(got) == len(set(got)), f"{name}: a row stored twice"
        assert got == want, f"{name}: {len(got)} rows, {len(want)} imported alone; " \
                            f"extra {sorted(set(got) - set(want))[:3]}, missing {sorted(set(want) - set(got))[:3]}"
    # And each paper's author rows are its authors, in order (the search by author reads them).
    stored: dict[str, list[str]] = {}
    for paper_id, _position, key in together["paper_authors"]:   # sorted: by paper, then position
        stored.setdefault(paper_id, []).append(key)
    for row in together["papers"]:
        keys = [author_key(a["name"]) for a in json.loads(row[3])]
        assert stored.get(row[0], []) == [k for k in keys if k], row[0]
