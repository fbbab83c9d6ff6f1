"""The Hugging Face–compatible API and the feeds under load: all of tests/fixtures/data (the shared
real data) imported into a temporary SQLite file, served by the production server (`papertrend
serve`, uvicorn) on loopback, driven by bench/loadgen.py like bench_web.py.

It prints, at 1 and 32 clients, requests/s, p50 and p99 and non-200 answers for:
- the floor: /healthz, measured in the same server;
- the site's own JSON of the latest day (/papers/date/D.json, page cache on): the baseline;
- /api/daily_papers as the client asks for it: no arguments (the latest day), a date, a week,
  sort=trending, and a second page of 10 (each its own route, and all of them as a mix);
- the trending feed: RSS and Atom for each window (today, week, month);
and each route's throughput and p99 as ratios to the floor's and the baseline's.

No embeddings: neither the API's lists nor the feeds search. Figures only, never a pass or fail.
Environment: BENCH_SECONDS (per measurement, default 8), BENCH_WORKERS (default: the CPU count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import ROOT, SHARED, describe_machine, free_port, print_table
from loadgen import Result, Target, load

from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.periods import parse_date
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store

SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
CLIENTS = (1, 32)


def prepare(tmp: str) -> tuple[str, int, dict[str, list[Target]]]:
    url = f"sqlite:///{tmp}/api.db"
    settings = load_settings(database_url=url, embed_on_import=False)
    store = open_store(settings)
    import_paths(store, settings, [SHARED])
    recompute_trending(store)
    latest = store.papers.latest_list_date()
    assert latest is not None, "the shared data imported no dated paper"
    week = "%d-W%02d" % parse_date(latest).start.isocalendar()[:2]
    count = store.papers.count()
    store.close()
    accept = "application/json"
    routes = {
        "/papers/date/D.json (baseline)": [Target(f"/papers/date/{latest}.json", accept=accept)],
        "/api/daily_papers": [Target("/api/daily_papers", accept=accept)],
        "/api/daily_papers?date=": [Target(f"/api/daily_papers?date={latest}", accept=accept)],
        "/api/daily_papers?week=": [Target(f"/api/daily_papers?week={week}", accept=accept)],
        "/api/daily_papers?sort=trending": [Target("/api/daily_papers?sort=trending", accept=accept)],
        "/api/daily_papers?limit=10&p=1": [Target(f"/api/daily_papers?date={latest}&limit=10&p=1", accept=accept)],
        "/feeds/trending.rss|atom?window=": [Target(f"/feeds/trending.{fmt}?window={w}", accept="*/*")
                                             for w in ("today", "week", "month") for fmt in ("rss", "atom")],
    }
    routes["/api/daily_papers (all five)"] = [t for name, ts in routes.items()
                                              if name.startswith("/api/daily_papers") for t in ts]
    return url, count, routes


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _start(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ, PAPERTREND_DATABASE_URL=database_url, PAPERTREND_PORT=str(port),
               PAPERTREND_WORKERS=str(WORKERS), PAPERTREND_EMBED_ON_IMPORT="false")
    with log.open("wb") as err:
        server = subprocess.Popen([sys.executable, "-m", "papertrend.cli", "serve"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            status, body = _get(port, "/healthz")
            if status == 200 and json.loads(body).get("ok"):
                return server, port
        except OSError:
            pass
        time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not answer within 5 minutes")


def main() -> None:
    machine = describe_machine()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        database_url, papers, routes = prepare(tmp)
        print(f"machine: {machine}")
        print(f"prepared {papers:,} papers in {time.perf_counter() - t0:.0f} s")
        server, port = _start(database_url, Path(tmp) / "server.log")
        results: dict[str, dict[int, Result]] = {}
        try:
            for targets in routes.values():  # warm up: templates, the feed cache, SQLite's pages
                load("127.0.0.1", port, targets, 8, 1.0)
            results["/healthz (floor)"] = {c: load("127.0.0.1", port, "/healthz", c, SECONDS) for c in CLIENTS}
            for name, targets in routes.items():
                results[name] = {c: load("127.0.0.1", port, targets, c, SECONDS) for c in CLIENTS}
        finally:
            server.terminate()
            server.wait(30)
    floor, base = results["/healthz (floor)"], results["/papers/date/D.json (baseline)"]
    header = ["route", "1c req/s", "1c p50", "1c p99", "32c req/s", "32c p50", "32c p99", "non-200",
              "32c req/s vs floor", "32c req/s vs baseline", "32c p99 vs baseline"]
    rows: list[list[object]] = []
    for name, r in results.items():
        rows.append([name, f"{r[1].rps:,.0f}", f"{r[1].p50:.1f}", f"{r[1].pct(0.99):.1f}", f"{r[32].rps:,.0f}",
                     f"{r[32].p50:.1f}", f"{r[32].pct(0.99):.1f}", r[1].errors + r[32].errors,
                     f"{r[32].rps / floor[32].rps:.2f}x", f"{r[32].rps / base[32].rps:.2f}x",
                     f"{r[32].pct(0.99) / base[32].pct(0.99):.1f}x"])
    print_table(f"{papers:,} papers, uvicorn with {WORKERS} worker{'s' if WORKERS != 1 else ''}, {SECONDS:.0f} s per "
                "measurement; latencies in ms; 1c / 32c = 1 / 32 concurrent clients", header, rows)
    for name in ("/api/daily_papers (all five)", "/feeds/trending.rss|atom?window="):
        r = results[name][32]
        print(f"  {name} at 32 clients: {r.rps:,.0f} req/s, p99 {r.pct(0.99):.1f} ms "
              f"(load generator used {r.own_cpu_share:.0%} of a core)")
    print("\nBenchmarks print figures; they never pass or fail on time. Other processes on the machine move them:"
          " run twice and compare.")


if __name__ == "__main__":
    main()
