"""Serve all of tests/fixtures/data (the shared real data) with the production server (uvicorn, 2 workers) on loopback and
drive it: requests/s and p50 / p99 latency for /, a week page and a paper page at 1 and 32
concurrent clients. Baseline in the same run: /healthz (the framework and server floor).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import ROOT, SHARED, free_port, print_table
from loadgen import load

from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.store import open_store

SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/web.db"
        settings = load_settings(database_url=url)
        store = open_store(settings)
        import_paths(store, settings, [SHARED])
        count = store.papers.count()
        paper = store.papers.in_range("2026-07-31", "2026-07-31", limit=1)[0].id
        store.close()
        port = free_port()
        env = dict(os.environ, PAPERTREND_DATABASE_URL=url, PAPERTREND_PORT=str(port), PAPERTREND_WORKERS="2")
        server = subprocess.Popen([sys.executable, "-m", "papertrend.cli", "serve"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            rows = []
            for path in ("/healthz", "/", "/papers/week/2026-W31", f"/papers/{paper}"):
                for clients in (1, 32):
                    load("127.0.0.1", port, path, clients, 1.0)  # warm up
                    r = load("127.0.0.1", port, path, clients, SECONDS)
                    rows.append([path, clients, r.requests, f"{r.rps:,.0f}", f"{r.p50:.1f}", f"{r.pct(0.99):.1f}", r.errors])
        finally:
            server.terminate()
            server.wait(10)
    print_table(f"web benchmark: {count:,} papers, uvicorn with 2 workers, {SECONDS:.0f} s per row",
                ["path", "clients", "requests", "req/s", "p50 ms", "p99 ms", "non-200"], rows)
    base = float(rows[1][3].replace(",", ""))
    home = float(rows[3][3].replace(",", ""))
    print(f"\n/ at 32 clients is {home / base:.2f}x of the /healthz floor.  goal: >= 500 req/s for / at 32 clients, p99 < 100 ms")


if __name__ == "__main__":
    main()
