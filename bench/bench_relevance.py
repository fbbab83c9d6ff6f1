"""Relevance on the real shared data (~8,000 papers), with labels nobody on this project wrote.

1. Known-item: a paper's title, its Hugging Face ai_summary, its ai_keywords joined -> that paper.
   Recall@1 and MRR@10.
2. Conceptual known-item: the ai_summary with every word of the title removed. Same metrics.
3. Topical: each ai_keywords phrase of 2+ words tagging 5-60 papers is a query; its papers are the
   relevant ones; ranking restricted to tagged papers. P@10 and non-lexical recall@50 (of the
   relevant papers that lack some (stemmed) word of the phrase, the share in the top 50).
4. Similar papers: share of a paper's 5 neighbours that share an ai_keywords phrase with it,
   against chance and against TF-IDF cosine (arxiv-sanity-lite's method).

Rankings compared: bm25 alone, vectors alone, RRF (k=60), and papertrend's fusion (the default
mode). Full text here leaves out the keywords column (the labels' source). Vectors are cached in var/bench-cache/ (embedding 8,000 papers takes ~3-4 minutes).
Set BENCH_SAMPLE to change the number of known-item queries (default 1000).
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from common import ROOT, SHARED, print_table

from papertrend.config import load_settings
from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.ingest.importer import import_paths
from papertrend.enrich.embed import embed_missing, load_vectors_file
from papertrend.store import open_store
from papertrend.models import SearchFilters
from papertrend.search.lexical import LexicalIndex
from papertrend.search.hybrid import Fusion, rank, tiered_fulltext
from papertrend.search.query import parse
from papertrend.search.vectors import VectorIndex
from papertrend.store import schema as t

CACHE = ROOT / "var" / "bench-cache"
SAMPLE = int(os.environ.get("BENCH_SAMPLE", "1000"))
K = 100
# The labels come from Hugging Face's ai_keywords / ai_summary: the benchmark searches without the
# keywords column so that no query finds its answer through its own label.
TEXT_COLUMNS = ("title", "abstract", "authors")


def stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ers", "er", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def words(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"\w+", text.lower())}


def rrf(fts: list[tuple[str, float]], vec: list[tuple[str, float]], k: int = 60, wv: float = 1.0) -> list[str]:
    score: dict[str, float] = defaultdict(float)
    for rank, (pid, _) in enumerate(fts):
        score[pid] += 1 / (k + rank + 1)
    for rank, (pid, _) in enumerate(vec):
        score[pid] += wv / (k + rank + 1)
    return sorted(score, key=lambda p: -score[p])


def fused(fts, vec, fusion: Fusion, every_word: set[str] | None = None) -> list[str]:
    return [pid for pid, _ in rank(fts, vec, fusion, every_word)]


def mrr_at(ranked: list[str], target: str, k: int = 10) -> float:
    for i, pid in enumerate(ranked[:k]):
        if pid == target:
            return 1 / (i + 1)
    return 0.0


def main() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{tmp}/rel.db")
        store = open_store(settings)
        import_paths(store, settings, [SHARED])
        embedder = Embedder(max_tokens=settings.embedding_max_tokens)
        cache = CACHE / f"vectors-{settings.embedding_max_tokens}.npz"
        if cache.exists():
            load_vectors_file(store, cache, MODEL_ID)
        t0 = time.perf_counter()
        n_embedded = embed_missing(store, embedder, MODEL_ID)
        if n_embedded:
            rate = n_embedded / (time.perf_counter() - t0)
            print(f"embedded {n_embedded} papers at {rate:.1f} abstracts/s")
            with store.read() as conn:
                rows = list(conn.execute(t.paper_vectors.select()))
            np.savez_compressed(cache, ids=np.array([r.paper_id for r in rows]), hashes=np.array([r.text_hash for r in rows]),
                                vectors=np.stack([np.frombuffer(r.vector, dtype=np.float32) for r in rows]).astype(np.float16))
        index = VectorIndex(store, MODEL_ID)
        index.refresh()
        papers = store.papers.get_many([r for r in index.ids])
        hf = [p for p in papers.values() if p.ai_summary and p.ai_keywords]
        print(f"{len(papers):,} papers, {len(hf):,} with Hugging Face ai_summary / ai_keywords")

        variant: dict = {"tiers": False, "weights": None, "phrase": False, "lexical": None}
        # The in-memory index ranks what the web process serves; its weights leave out keywords,
        # as TEXT_COLUMNS does, because the labels come from them.
        lexical = LexicalIndex(store, weights=(4.0, 1.0, 2.0, 0.0))
        t0 = time.perf_counter()
        lexical.refresh()
        print(f"in-memory full-text index: {len(lexical):,} papers in {time.perf_counter() - t0:.1f} s")
        qcache: dict = {}

        def lists(q: str, filters: SearchFilters = SearchFilters(), restrict: set[str] | None = None):
            query = parse(q)
            n = K if restrict is None else 4000
            every_word = None
            if query.empty:
                fts = []
            elif variant["tiers"]:
                found = tiered_fulltext(store, query, filters, n, TEXT_COLUMNS, variant["weights"],
                                        phrase=variant["phrase"], lexical=variant["lexical"])
                fts, every_word = found.hits, found.every_word
            else:
                fts = store.search.fulltext(query.match("any", TEXT_COLUMNS), filters, n,
                                     **({"field_weights": variant["weights"]} if variant["weights"] else {}))
            if query.text not in qcache:
                qcache[query.text] = embedder.embed_query(query.text)
            vec = index.search(qcache[query.text], n) if not query.empty else []
            if restrict is not None:
                fts = [x for x in fts if x[0] in restrict][:K]
                vec = [x for x in vec if x[0] in restrict][:K]
            return fts, vec, every_word

        methods = {
            "full text only": lambda f, v, e=None: [p for p, _ in f],
            "vectors": lambda f, v, e=None: [p for p, _ in v],
            "RRF k=60": lambda f, v, e=None: rrf(f, v),
            "RRF, vector weight 0.3": lambda f, v, e=None: rrf(f, v, wv=0.3),
        }
        for w in (0.1, 0.3):
            methods[f"fusion w={w}, no interleave"] = (lambda w: lambda f, v, e=None: fused(
                f, v, Fusion(vector_weight=w, interleave_from=None)))(w)
        methods["fusion w=0.1, pivot 16"] = lambda f, v, e=None: fused(f, v, Fusion(vector_weight=0.1, lexical_pivot=16.0))
        default = Fusion(vector_weight=settings.search_vector_weight,
                         lexical_pivot=settings.search_lexical_pivot if settings.search_lexical_pivot > 0 else None)
        methods["papertrend default"] = lambda f, v, e: fused(f, v, default, e)

        variants = [("default: short queries in tiers (phrase in title, phrase, every word, some); "
                     "field weights title 4 / authors 2 / abstract 1; first 30 reordered by word pairs; ranked by the in-memory index", True, None, True, lexical),
                    ("the same ranked by FTS5 in SQL", True, None, True, None),
                    ("no tiers: OR of words", False, None, False, None)]
        if os.environ.get("BENCH_QUICK"):
            variants = variants[:1]
        for label, tiers, weights, phrase, lex in variants:
            variant["tiers"], variant["weights"], variant["phrase"], variant["lexical"] = tiers, weights, phrase, lex
            print(f"\n== full text: {label}")
            rng = random.Random(13)
            sample = rng.sample(hf, min(SAMPLE, len(hf)))
            results: dict[str, dict[str, float]] = defaultdict(dict)
            t0 = time.perf_counter()
            for task, make in [
                ("known-item title", lambda p: p.title),
                ("known-item ai_summary", lambda p: p.ai_summary),
                ("known-item ai_keywords", lambda p: " ".join(p.ai_keywords)),
                ("conceptual (summary minus title words)", lambda p: " ".join(
                    w for w in re.findall(r"\S+", p.ai_summary) if stem(re.sub(r"\W", "", w.lower())) not in words(p.title))),
            ]:
                scores = defaultdict(lambda: [0.0, 0.0])
                for p in sample:
                    f, v, e = lists(make(p))
                    for name, m in methods.items():
                        ranked = m(f, v, e)
                        scores[name][0] += ranked[:1] == [p.id]
                        scores[name][1] += mrr_at(ranked, p.id)
                for name in methods:
                    results[name][f"{task} R@1"] = scores[name][0] / len(sample)
                    results[name][f"{task} MRR@10"] = scores[name][1] / len(sample)
            known_time = time.perf_counter() - t0

            # Topical
            tags: dict[str, set[str]] = defaultdict(set)
            for p in hf:
                for k in p.ai_keywords:
                    if len(k.split()) >= 2:
                        tags[k.lower()].add(p.id)
            topics = {k: ids for k, ids in tags.items() if 5 <= len(ids) <= 60}
            tagged = {p.id for p in hf}
            p10 = defaultdict(float)
            nonlex_found = defaultdict(int)
            nonlex_total = 0
            for phrase, relevant in topics.items():
                f, v, e = lists(phrase, restrict=tagged)
                # Lexical = FTS5 (porter stemming) finds every word of the phrase in the paper.
                lexical = {pid for pid, _ in store.search.fulltext(parse(phrase).match("all", TEXT_COLUMNS), SearchFilters(), 10_000)}
                nonlex = relevant - lexical
                nonlex_total += len(nonlex)
                for name, m in methods.items():
                    ranked = m(f, v, e)
                    p10[name] += len(set(ranked[:10]) & relevant) / 10
                    nonlex_found[name] += len(set(ranked[:50]) & nonlex)
            for name in methods:
                results[name]["topical P@10"] = p10[name] / len(topics)
                results[name]["topical non-lexical recall@50"] = nonlex_found[name] / max(nonlex_total, 1)

            header = ["task"] + list(methods)
            tasks = list(next(iter(results.values())))
            rows = [[task] + [f"{results[m][task]:.3f}" for m in methods] for task in tasks]
            print_table(f"relevance: {len(sample)} known-item queries per task, {len(topics)} topical queries "
                        f"({nonlex_total} non-lexical relevant pairs); {known_time:.0f} s", header, rows)

        rng = random.Random(13)
        # Similar papers
        share_phrase = {p.id: {k.lower() for k in p.ai_keywords if len(k.split()) >= 2} for p in hf}
        def shares(a: str, b: str) -> bool:
            return bool(share_phrase.get(a, set()) & share_phrase.get(b, set()))
        probe = rng.sample(hf, min(1000, len(hf)))
        ids = [p.id for p in hf]
        vec_hits = tfidf_hits = chance_hits = 0
        from sklearn_free_tfidf import TfIdf  # noqa: E402 - local helper below
        tfidf = TfIdf([f"{p.title} {p.abstract}" for p in hf])
        row_of = {pid: i for i, pid in enumerate(ids)}
        restrict = np.array([index.row_of[pid] for pid in ids])
        sub = index.matrix[restrict]
        for p in probe:
            sims = sub @ index.vector_of(p.id)
            sims[row_of[p.id]] = -1
            near = np.argsort(-sims)[:5]
            vec_hits += sum(shares(p.id, ids[i]) for i in near)
            near_t = tfidf.neighbours(row_of[p.id], 5)
            tfidf_hits += sum(shares(p.id, ids[i]) for i in near_t)
            chance_hits += sum(shares(p.id, q) for q in rng.sample(ids, 5))
        n = len(probe) * 5
        print_table("similar papers: share of the 5 neighbours that share an ai_keywords phrase",
                    ["method", "P@5"], [["MiniLM vectors (papertrend)", f"{vec_hits / n:.3f}"],
                                        ["TF-IDF cosine (arxiv-sanity-lite)", f"{tfidf_hits / n:.3f}"],
                                        ["chance", f"{chance_hits / n:.3f}"]])


if __name__ == "__main__":
    main()
