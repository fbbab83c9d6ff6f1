"""Search latency and memory at 10k / 100k / 1M papers.

The real shared corpus (~8,000 papers) is grown with papers recombined from real abstract
sentences and title words; their vectors are normalised blends of two real vectors plus noise.
For each size: full-text, vector (exact numpy and faiss HNSW) and hybrid latency p50 / p99 over
BENCH_QUERIES (default 100) queries (real titles and Hugging Face keyword phrases), against arxiv-sanity-lite's approach
(a Python scan over all papers) measured in the same run. Memory: peak RSS of a separate process
that opens the database, loads the index and answers one hybrid search.

Usage: python bench/bench_search_scale.py [10000 100000 1000000]   (needs var/bench-cache/vectors-128.npz,
written by bench_relevance.py, or it embeds the shared corpus first: ~3 minutes)
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from common import ROOT, SHARED, describe_machine, peak_rss_mb, print_table

from papertrend.config import Settings, load_settings
from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.ingest.importer import import_paths
from papertrend.enrich.embed import embed_missing, load_vectors_file
from papertrend.store import Store, open_store
from papertrend.models import SearchFilters
from papertrend.search.hybrid import Fusion, Searcher, tiered_fulltext
from papertrend.search.lexical import LexicalIndex
from papertrend.search.query import parse
from papertrend.search.vectors import HnswIndex, VectorIndex
from papertrend.store import schema as t

CACHE = ROOT / "var" / "bench-cache" / "vectors-128.npz"


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(q * len(data)))]


def shared_corpus(url: str) -> tuple[Settings, Store]:
    """A new store at ``url`` holding the shared data with its vectors (from the cache when there)."""
    settings = load_settings(database_url=url, embed_on_import=False)
    store = open_store(settings)
    import_paths(store, settings, [SHARED])
    if CACHE.exists():
        load_vectors_file(store, CACHE, MODEL_ID)
    embed_missing(store, Embedder(), MODEL_ID)
    return settings, store


def grow(store, n: int, rng: random.Random) -> None:
    """Add synthetic papers until the store holds ``n``."""
    real = store.papers.in_range("0000-01-01", "9999-12-31")
    vectors = VectorIndex(store, MODEL_ID)
    vectors.refresh()
    sentences = [s for p in real for s in re.split(r"(?<=[.!?])\s+", p.abstract) if 40 < len(s) < 400]
    title_words = [w for p in real for w in p.title.split()]
    have = store.papers.count()
    batch = 20_000
    seq = have  # ids continue from earlier growth
    while have < n:
        rows, vecs = [], []
        for _ in range(min(batch, n - have)):
            seq += 1
            pid = f"pt-{seq:012x}"
            title = " ".join(rng.choice(title_words) for _ in range(rng.randint(6, 12)))
            abstract = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 5)))
            day = f"2026-{rng.randint(1, 7):02d}-{rng.randint(1, 28):02d}"
            rows.append({"id": pid, "title": title, "title_key": title.lower(), "abstract": abstract,
                         "authors_json": '[{"name": "Synthetic Author"}]', "categories_json": '["cs.LG"]',
                         "ai_keywords_json": "[]", "list_date": day, "published": day, "upvotes": rng.randint(0, 50),
                         "num_comments": 0, "first_seen": "2026-08-01", "last_changed": "2026-08-01"})
            i, j = rng.randrange(len(vectors.ids)), rng.randrange(len(vectors.ids))
            v = 0.7 * vectors.matrix[i] + 0.3 * vectors.matrix[j] + np.float32(0.02) * np.asarray(
                [rng.gauss(0, 1) for _ in range(8)] * 48, dtype=np.float32)
            v /= np.linalg.norm(v)
            vecs.append({"paper_id": pid, "model": MODEL_ID, "text_hash": "synthetic",
                         "vector": v.astype("<f4").tobytes()})
        with store.write() as conn:
            conn.execute(t.papers.insert(), rows)
            conn.execute(t.paper_vectors.insert(), vecs)
        have += len(rows)
        print(f"  grown to {have:,} papers", flush=True)


def sanity_scan(query: str, papers: list[tuple[str, str]]) -> list[tuple[float, int]]:
    """arxiv-sanity-lite's search: score every paper in Python by query word occurrences."""
    words = query.lower().split()
    scores = []
    for i, (title, abstract) in enumerate(papers):
        t, a = title.lower(), abstract.lower()
        s = sum(3.0 * (w in t) + 1.0 * (w in a) for w in words)
        if s > 0:
            scores.append((s, i))
    scores.sort(reverse=True)
    return scores[:20]


MEMORY_PROBE = r"""
import sys
from papertrend.config import Settings, load_settings
from papertrend.store import Store, open_store
from papertrend.search.hybrid import Searcher, Fusion
from papertrend.search.lexical import LexicalIndex
from papertrend.search.vectors import make_index
from papertrend.enrich.embeddings import MODEL_ID
store = open_store(load_settings(database_url=sys.argv[1]))
index = make_index(store, MODEL_ID, sys.argv[2]); index.refresh()
lexical = LexicalIndex(store); lexical.refresh()
q = index.vector_of(index.ids[0])
Searcher(store, lambda text: q, index, Fusion(), lexical).search("language model reasoning")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (this big bench) across exec.
print(int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024)
"""


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    print(f"machine: {describe_machine()}")
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    rng = random.Random(11)
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as tmp:
        url = f"sqlite:///{tmp}/scale.db"
        settings, store = shared_corpus(url)
        real = [p for p in store.papers.in_range("0000-01-01", "9999-12-31") if p.ai_keywords]
        half = int(os.environ.get("BENCH_QUERIES", "100")) // 2
        queries = [p.title for p in rng.sample(real, half)] + [
            rng.choice([k for k in p.ai_keywords if len(k.split()) >= 2] or [p.title]) for p in rng.sample(real, half)]
        embedder = Embedder(threads=1)
        t0 = time.perf_counter()
        qvecs = {q: embedder.embed_query(q) for q in queries}
        embed_ms = (time.perf_counter() - t0) * 1000 / len(queries)
        # The indexes are kept current incrementally as the corpus grows, as in the web process.
        exact, hnsw, lexical = VectorIndex(store, MODEL_ID), HnswIndex(store, MODEL_ID), LexicalIndex(store)
        fusion = Fusion(vector_weight=settings.search_vector_weight)
        searchers = {"hybrid exact": Searcher(store, lambda q: qvecs[q], exact, fusion, lexical),
                     "hybrid hnsw": Searcher(store, lambda q: qvecs[q], hnsw, fusion, lexical),
                     "hybrid hnsw + query embedding": Searcher(store, embedder.embed_query, hnsw, fusion, lexical)}
        for n in sizes:
            before = len(lexical)
            grow(store, n, rng)
            added = n - before
            load_s, build_s, lex_s = timed(exact.refresh), timed(hnsw.refresh), timed(lexical.refresh)
            timings: dict[str, list[float]] = {k: [] for k in (
                "full text: FTS5 bm25 in SQL (OR of words)", "full text: in-memory index, tiers", "vectors: exact",
                "vectors: HNSW", *searchers)}
            for q in queries:
                query = parse(q)
                # Each function is called at once, but binds its loop values all the same.
                for name, fn in (
                        ("full text: FTS5 bm25 in SQL (OR of words)",
                         lambda query=query: store.search.fulltext(query.match(), SearchFilters(), 100)),
                        ("full text: in-memory index, tiers",
                         lambda query=query: tiered_fulltext(store, query, SearchFilters(), 100,
                                                             phrase=True, lexical=lexical)),
                        ("vectors: exact", lambda q=q: exact.search(qvecs[q], 100)),
                        ("vectors: HNSW", lambda q=q: hnsw.search(qvecs[q], 100)),
                        *((name, lambda s=s, q=q: s.search(q)) for name, s in searchers.items())):
                    timings[name].append(timed(fn) * 1000)
            recall = statistics.mean(
                len({p for p, _ in exact.search(qvecs[q], 10)} & {p for p, _ in hnsw.search(qvecs[q], 10)}) / 10
                for q in queries)
            with store.read() as conn:
                corpus = [(r.title, r.abstract) for r in conn.execute(t.papers.select())]
            scan = [timed(lambda q=q, corpus=corpus: sanity_scan(q, corpus)) * 1000 for q in queries[:5]]
            del corpus
            mem = {}
            for kind in ("exact", "hnsw"):
                out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, url, kind], capture_output=True, text=True,
                                     cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
                mem[kind] = float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")
            for name, values in timings.items():
                rows.append([f"{n:,}", name, f"{pct(values, 0.5):.2f}", f"{pct(values, 0.99):.2f}",
                             f"{statistics.median(scan) / pct(values, 0.5):,.0f}x"])
            rows.append([f"{n:,}", "baseline: Python scan (arxiv-sanity-lite)", f"{statistics.median(scan):.0f}",
                         f"{max(scan):.0f}", "1x"])
            print_table(f"{n:,} papers: latency (ms)", ["papers", "method", "p50", "p99", "p50 speed-up vs scan"],
                        rows[-len(timings) - 1:])
            print(f"{n:,}: {added:,} papers added: in-memory full-text index {added / lex_s:,.0f} papers/s, "
                  f"exact vectors {added / load_s:,.0f}/s, HNSW {added / build_s:,.0f}/s; HNSW recall@10 {recall:.3f}; "
                  f"web-process peak RSS (loads both indexes from scratch, one search) with exact vectors "
                  f"{mem['exact']:.0f} MB, with HNSW {mem['hnsw']:.0f} MB", flush=True)
    print_table(f"search latency (ms), {len(queries)} queries; embedding a query takes {embed_ms:.1f} ms",
                ["papers", "method", "p50", "p99", "p50 speed-up vs scan"], rows)
    print(f"\nthis process peak RSS {peak_rss_mb():.0f} MB. goals: hybrid p50 <= 20 ms, p99 <= 100 ms at 1M with HNSW; "
          "exact p50 <= 25 ms at 100k; web process <= 2.5 GB at 1M")


if __name__ == "__main__":
    main()
