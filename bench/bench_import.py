"""Import all of tests/fixtures/data/hf-daily and arxiv-listings (the shared real data) into a fresh SQLite file.

Prints papers/s and peak RSS, and the same rows written by plain sqlite3 executemany in the
same process as a baseline (the floor: no parsing, merging, provenance or observations).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path

from common import SHARED, describe_machine, peak_rss_mb, print_table

from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.store import open_store


def main() -> None:
    machine = describe_machine()
    print(f"machine: {machine}")
    paths = [SHARED / "hf-daily", SHARED / "arxiv-listings"]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{tmp}/bench.db")
        store = open_store(settings)
        t0 = time.perf_counter()
        summary = import_paths(store, settings, paths)
        elapsed = time.perf_counter() - t0
        rss = peak_rss_mb()
        papers = store.papers.count()
        records = summary.new + summary.updated + summary.unchanged
        t0 = time.perf_counter()
        again = import_paths(store, settings, paths)
        rerun = time.perf_counter() - t0

        # Baseline: the same number of rows, inserted as fast as sqlite3 allows.
        rows = []
        for f in sorted((SHARED / "hf-daily").glob("*.json")):
            for e in json.loads(f.read_text()):
                rows.append((e["paper"]["id"], e["paper"]["title"], e["paper"]["summary"]))
        for f in sorted((SHARED / "arxiv-listings").glob("*.jsonl")):
            for line in f.read_text().splitlines():
                o = json.loads(line)
                rows.append((o["id"], o["title"], o["summary"]))
        base = sqlite3.connect(Path(tmp) / "base.db")
        base.execute("pragma journal_mode=wal")
        base.execute("create table p (id text primary key, title text, abstract text)")
        t0 = time.perf_counter()
        with base:
            base.executemany("insert or replace into p values (?, ?, ?)", rows)
        baseline = time.perf_counter() - t0
    print_table(f"import benchmark ({machine})", ["what", "papers", "records", "seconds", "papers/s", "peak RSS MB"], [
        ["papertrend import (fresh db)", papers, records, f"{elapsed:.2f}", f"{papers / elapsed:,.0f}", f"{rss:.0f}"],
        ["papertrend re-import (all unchanged)", papers, again.unchanged, f"{rerun:.2f}", f"{papers / rerun:,.0f}", ""],
        ["baseline: sqlite3 executemany", len(rows), len(rows), f"{baseline:.2f}", f"{len(rows) / baseline:,.0f}", ""],
    ])
    print(f"\nratio papertrend / baseline time: {elapsed / baseline:.1f}x   goal: >= 2,000 papers/s, < 300 MB peak")


if __name__ == "__main__":
    main()
