"""The web process under load: all of tests/fixtures/data (the shared real data) imported into a
temporary SQLite file as `papertrend import` does it (papers, trending, embeddings), served by the
production server (`papertrend serve`, uvicorn) on loopback, driven by bench/loadgen.py.

For each page-cache setting (on, then off: off shows rendering and SQL, not the cache) it prints:
- the floor: /healthz at 1 and 32 clients, measured in the same server;
- a mixed workload at 1 and 32 clients: the home page, two days, a week, a month, three paper
  pages, four real searches and the three trending windows, each also as its JSON twin; per route
  and overall: requests/s, p50, p99 and non-200 answers, and ratios against the floor;
- searches that are all different (Hugging Face ai_keywords phrases from the data, none asked
  twice), at 1 and 32 clients: what searches cost when no cache of any kind can answer them
  (the mix's four queries repeat, so the server may remember their query vectors).

The server's search indexes are warm before anything is measured: it loads them in the background
at start and reports them in /healthz (`search.ready`); the bench waits until every worker says so.
Figures only, never a pass or fail. The machine line is what this run detects.

Environment: BENCH_SECONDS (per measurement, default 10), BENCH_WORKERS (default: the CPU count),
BENCH_PAGE_CACHE ("on,off"), BENCH_SERVER_SRC (serve another checkout's src/, to compare).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import numpy as np
from sqlalchemy import select
from common import ROOT, SHARED, describe_machine, free_port, print_table
from loadgen import Result, Target, load

from papertrend.config import load_settings
from papertrend.enrich.embeddings import MODEL_ID
from papertrend.ingest.importer import import_paths
from papertrend.enrich.embed import load_vectors_file
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store
from papertrend.periods import parse_date
from papertrend.store import Store
from papertrend.store import schema as t

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
CACHE_MODES = [m.strip() for m in os.environ.get("BENCH_PAGE_CACHE", "on,off").split(",") if m.strip()]
SERVER_SRC = os.environ.get("BENCH_SERVER_SRC")
# Shared with bench_relevance.py (same file, same format): embedding ~8,000 papers takes minutes.
VECTOR_CACHE = ROOT / "var" / "bench-cache" / "vectors-128.npz"
COLD = "/search?q= (all different)"
COLD_QUERIES = 9_000  # 200 to warm up, 2,800 for one client, 6,000 for 32: no query is asked twice
QUERIES = ["speculative decoding", "mixture of experts", "diffusion models for video generation",
           "reinforcement learning from human feedback"]


@dataclass
class Corpus:
    url: str
    papers: int
    vectors: int
    mix: list[Target]
    cold: list[Target]


def _vectors(store: Store) -> int:
    """Embeddings for every paper, from the cache when it has them (as bench_relevance.py keeps it)."""
    if VECTOR_CACHE.exists():
        load_vectors_file(store, VECTOR_CACHE, MODEL_ID)
    from papertrend.enrich.embeddings import Embedder
    from papertrend.enrich.embed import embed_missing

    missing = len([1 for _, _, _, stored in store.vectors.texts_to_embed(MODEL_ID) if stored is None])
    if missing:
        print(f"embedding {missing:,} papers (minutes; cached in {VECTOR_CACHE.relative_to(ROOT)} for the next run)",
              flush=True)
        embed_missing(store, Embedder(max_tokens=128), MODEL_ID)
        with store.read() as conn:
            rows = list(conn.execute(t.paper_vectors.select()))
        VECTOR_CACHE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(VECTOR_CACHE, ids=np.array([r.paper_id for r in rows]),
                            hashes=np.array([r.text_hash for r in rows]),
                            vectors=np.stack([np.frombuffer(r.vector, dtype=np.float32)
                                              for r in rows]).astype(np.float16))
    return store.vectors.count(MODEL_ID)[0]


def prepare(tmp: str) -> Corpus:
    url = f"sqlite:///{tmp}/web.db"
    settings = load_settings(database_url=url)
    store = open_store(settings)
    import_paths(store, settings, [SHARED])
    recompute_trending(store)  # as `papertrend import` does
    vectors = _vectors(store)
    latest = store.papers.latest_list_date()
    assert latest is not None, "the shared data imported no dated paper"
    day = parse_date(latest)
    month = day.start.strftime("%Y-%m")
    week = "%d-W%02d" % day.start.isocalendar()[:2]
    busiest = max(store.papers.day_counts(f"{month}-01", latest), key=lambda d: (d.papers, d.date)).date
    papers = [p.id for p in store.papers.in_range(f"{month}-01", latest, limit=3)]
    with store.read() as conn:
        keywords = [json.loads(r[0]) for r in conn.execute(select(t.papers.c.ai_keywords_json).order_by(t.papers.c.id))]
    count = store.papers.count()
    store.close()

    # Every kind of page equally often (a seventh each, HTML and JSON alike); within a kind,
    # its variants take turns, so no URL is asked for much more often than its siblings.
    kinds = [("/", ["/"]), ("/papers/date/D", [f"/papers/date/{latest}", f"/papers/date/{busiest}"]),
             ("/papers/week/W", [f"/papers/week/{week}"]), ("/papers/month/M", [f"/papers/month/{month}"]),
             ("/papers/ID", [f"/papers/{pid}" for pid in papers]),
             ("/search?q=", [f"/search?q={quote_plus(q)}" for q in QUERIES]),
             ("/trending?window=", [f"/trending?window={w}" for w in ("today", "week", "month")])]
    mix: list[Target] = []
    for turn in range(math.lcm(*(len(paths) for _, paths in kinds))):
        for route, paths in kinds:
            path = paths[turn % len(paths)]
            mix.append(Target(path, route))
            if path == "/":  # the home page's twin is asked for by Accept
                mix.append(Target("/", "/ (json)", accept="application/json"))
            else:
                bare, _, query = path.partition("?")
                twin_route = route.replace("?", ".json?") if "?" in route else route + ".json"
                mix.append(Target(f"{bare}.json" + (f"?{query}" if query else ""), twin_route))
    phrases = sorted({k for ks in keywords for k in ks if 2 <= len(k.split()) <= 4} - set(QUERIES))
    random.Random(0).shuffle(phrases)  # not alphabetical: neighbours would share their results
    cold = [Target(f"/search?q={quote_plus(k)}", COLD) for k in phrases[:COLD_QUERIES]]
    return Corpus(url, count, vectors, mix, cold)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_until_ready(port: int, server: subprocess.Popen[bytes]) -> str:
    """Wait until the server answers and every worker's search indexes are loaded. Each new
    connection may reach another worker, so /healthz is asked until every worker has said so."""
    ready: set[object] = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            status, body = _get(port, "/healthz")
        except OSError:
            time.sleep(0.1)
            continue
        health = json.loads(body) if status == 200 else {}
        search = health.get("search")
        if search is None:
            # A server from before /healthz reported its indexes: give its background load time.
            time.sleep(15)
            return "indexes assumed loaded after 15 s (this server does not report them)"
        if search.get("ready"):
            ready.add(health.get("worker"))
            if len(ready) >= WORKERS:
                return f"search indexes loaded in all {WORKERS} workers"
        else:
            time.sleep(0.2)
    raise SystemExit("the server's search indexes did not load within 10 minutes")


def _start(corpus: Corpus, page_cache: bool, log: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    env = dict(os.environ, PAPERTREND_DATABASE_URL=corpus.url, PAPERTREND_PORT=str(port),
               PAPERTREND_WORKERS=str(WORKERS), PAPERTREND_EMBED_ON_IMPORT="false")
    if not page_cache:
        env["PAPERTREND_PAGE_CACHE"] = "false"
    if SERVER_SRC:
        env["PYTHONPATH"] = SERVER_SRC
    with log.open("wb") as err:
        server = subprocess.Popen([sys.executable, "-m", "papertrend.cli", "serve"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=err)
    try:
        note = _wait_until_ready(port, server)
    except SystemExit:
        server.kill()
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    return server, port, note


def _ms(x: float) -> str:
    return f"{x:.1f}"


def _route_rows(r1: Result, r32: Result, routes: list[str], urls: dict[str, int]) -> list[list[object]]:
    rows: list[list[object]] = []
    for route in routes:
        rows.append([route, urls.get(route, ""), f"{r1.route_rps(route):,.1f}", _ms(r1.pct(0.5, route)),
                     _ms(r1.pct(0.99, route)), f"{r32.route_rps(route):,.1f}", _ms(r32.pct(0.5, route)),
                     _ms(r32.pct(0.99, route)), r1.errors_by_route[route] + r32.errors_by_route[route]])
    return rows


def run_mode(corpus: Corpus, page_cache: bool, log: Path) -> None:
    server, port, note = _start(corpus, page_cache, log)
    try:
        # Warm up every worker: the first search loads the embedding model, the first page the templates.
        load("127.0.0.1", port, corpus.mix, 32, 3.0)
        load("127.0.0.1", port, corpus.cold[:200], 4, 1.0)
        floor = {c: load("127.0.0.1", port, "/healthz", c, SECONDS) for c in (1, 32)}
        mix = {c: load("127.0.0.1", port, corpus.mix, c, SECONDS) for c in (1, 32)}
        cold = {1: load("127.0.0.1", port, corpus.cold[200:3000], 1, SECONDS),
                32: load("127.0.0.1", port, corpus.cold[3000:], 32, SECONDS)}
    finally:
        server.terminate()
        server.wait(30)
    label = "on" if page_cache else "off"
    header = ["route", "URLs", "1c req/s", "1c p50", "1c p99", "32c req/s", "32c p50", "32c p99", "non-200"]
    distinct: dict[str, set[str]] = {}
    for target in corpus.mix:
        distinct.setdefault(target.label, set()).add(target.path)
    urls = {route: len(paths) for route, paths in distinct.items()}
    rows = [["/healthz (floor)", 1, f"{floor[1].rps:,.0f}", _ms(floor[1].p50), _ms(floor[1].pct(0.99)),
             f"{floor[32].rps:,.0f}", _ms(floor[32].p50), _ms(floor[32].pct(0.99)), floor[1].errors + floor[32].errors]]
    rows += _route_rows(mix[1], mix[32], list(urls), urls)
    rows.append(["mix, overall", sum(urls.values()), f"{mix[1].rps:,.0f}", _ms(mix[1].p50), _ms(mix[1].pct(0.99)),
                 f"{mix[32].rps:,.0f}", _ms(mix[32].p50), _ms(mix[32].pct(0.99)), mix[1].errors + mix[32].errors])
    asked = f"{cold[1].requests + cold[32].requests:,}"
    rows.append([COLD, asked, f"{cold[1].rps:,.1f}", _ms(cold[1].p50),
                 _ms(cold[1].pct(0.99)), f"{cold[32].rps:,.1f}", _ms(cold[32].p50), _ms(cold[32].pct(0.99)),
                 cold[1].errors + cold[32].errors])
    print_table(f"page cache {label}: {corpus.papers:,} papers ({corpus.vectors:,} with vectors), uvicorn with "
                f"{WORKERS} worker{'s' if WORKERS != 1 else ''}, {SECONDS:.0f} s per measurement; {note}; "
                "latencies in ms, 1c / 32c = 1 / 32 concurrent clients",
                header, rows)
    for clients in (1, 32):
        r, f = mix[clients], floor[clients]
        print(f"  {clients:>2} clients: mix {r.rps:,.0f} req/s = {r.rps / f.rps:.2f}x the /healthz floor "
              f"({f.rps:,.0f} req/s); p50 {r.p50 / f.p50:.1f}x, p99 {r.pct(0.99) / f.pct(0.99):.1f}x the floor's; "
              f"the load generator used {r.own_cpu_share:.0%} of a core")
    statuses = mix[1].statuses + mix[32].statuses
    odd = {k: v for k, v in statuses.items() if k != 200}
    if odd:
        print(f"  non-200 answers by status: {odd}")


def main() -> None:
    machine = describe_machine()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        corpus = prepare(tmp)
        print(f"machine: {machine}")
        print(f"server code: {SERVER_SRC or ROOT / 'src'}")
        paths = list(dict.fromkeys(x.path for x in corpus.mix
                                   if not x.path.endswith(".json") and "json?" not in x.path))
        print(f"prepared {corpus.papers:,} papers in {time.perf_counter() - t0:.0f} s; the mix: seven kinds of page, "
              "each a seventh of the requests, half of them as JSON twins; every client walks it from its own "
              "place: " + ", ".join(paths) + " and their JSON twins")
        for mode in CACHE_MODES:
            run_mode(corpus, mode == "on", Path(tmp) / f"server-{mode}.log")
    print("\nBenchmarks print figures; they never pass or fail on time. Other processes on the machine move them:"
          " run twice and compare.")


if __name__ == "__main__":
    main()
