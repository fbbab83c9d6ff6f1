"""Hybrid search: FTS5 bm25 and MiniLM vectors, fused by normalised score.

Why not plain reciprocal rank fusion: on the shared data full text alone is already strong (most
papers contain their topic's words), and RRF gives a weak vector list as much say as a strong
bm25 list. Here each list's scores are scaled to [0, 1] relative to its own best hit, and the
vector side is weighted by ``vector_weight``; when full text finds little, the vectors carry the
query (``sparse_boost``). bench/bench_relevance.py measures these choices.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..config import Settings
from ..models import Paper, SearchFilters
from ..store import Store
from ..store.search import FTS_WEIGHTS
from .lexical import LexicalIndex, PairCounter, word_pairs
from .query import STOPWORDS, Query, parse
from .persist import restore_indexes
from .snapshot import database_identity
from .vectors import VectorIndex, make_index

CANDIDATES = 100
# A sort by date or upvotes orders this many of the most relevant papers: it reads every one of
# them from the store (about 0.7 ms a paper on 2 busy cores; 300 made such a search twice as slow).
SORT_POOL = 100
# A search asks the store for new text or vectors at most this often (seconds): each look is a
# store round trip, about a tenth of a warm search's CPU, and a paper then shows up in web
# search at most this long after it is stored.
FRESHNESS = 0.5
# Results of recent searches kept per process: a repeated query on unchanged indexes within
# RECENT_SECONDS is answered from memory (upvote counts in it then lag by as much).
RECENT_SECONDS = 30.0
RECENT_SIZE = 512
SORTS = ("relevance", "date", "upvotes")
MODES = ("hybrid", "fulltext", "vector")


@dataclass
class Hit:
    paper: Paper
    score: float
    fulltext: float | None = None
    vector: float | None = None


@dataclass
class Results:
    """One page of a search and what it is a page of.

    ``total`` counts the result set: papers holding the query's words (every word of a short
    query) and papers clearly related by meaning (see :func:`select`). ``basis`` says what the
    set rests on: "words" (some paper holds them), "some words" (no paper holds every word),
    "meaning" (no paper holds any of the words: these are related in meaning), or "none".
    ``total_exact`` is False when a filtered search had more candidates than it ranked (the
    total is then a lower bound)."""
    query: Query
    hits: list[Hit] = field(default_factory=list)
    mode: str = "hybrid"
    sort: str = "relevance"
    total: int = 0
    total_exact: bool = True
    basis: str = "none"
    listed: int = 0  # how many of them this order pages through (a sort: the SORT_POOL most relevant)

    @property
    def found_by(self) -> str | None:
        """What the results rest on, when it is not the query's words (the web page and the CLI
        both say it)."""
        if self.basis == "meaning" and self.mode == "hybrid":
            return MEANING_ONLY
        return None


MEANING_ONLY = "No paper contains these words — papers related in meaning."


# A paper with none of the query's words counts as found by meaning when its cosine similarity
# (MiniLM, query against title and abstract) is at least MEANING_FLOOR and within MEANING_SPREAD of
# the best paper's. Unrelated text scores 0.2-0.3 with every paper ("asdkjh qwpoeiru zxcmnv" and
# "banana bread recipe" peak at 0.30 on the shared data); a paraphrase of a paper's topic 0.30-0.45
# ("making the small model guess tokens for the big one" against speculative decoding papers), a
# query in a paper's own words 0.6 and more. The spread keeps the hundredth-nearest paper of a
# query with close matches out of the set. bench/bench_relevance.py chose both on its tune part.
MEANING_FLOOR = 0.30
MEANING_SPREAD = 0.15
# Meaning's weight for a sentence or a question of a few words (Query.sentence) when not None;
# None: ``Fusion.vector_weight`` (0.1 by default), as for a name or a phrase. A reader describing
# an idea in their own words shares few of them with the papers, but raising meaning's weight for
# the whole ranking also reorders the papers holding the words: bench_relevance, tune part, 0.4
# raised sentence P@10 0.169 -> 0.185 but lowered sentence recall@50 0.140 -> 0.138 and
# conceptual R@1 0.964 -> 0.963 (summaries of 4-12 words count as sentences). Places of
# meaning's own (below) gain more and cost nothing.
SENTENCE_WEIGHT: float | None = None
# Places of their own for meaning in a sentence's or a question's ranking: from place
# SENTENCE_FROM (0-based: the fifth) every SENTENCE_EVERY-th place goes to the nearest paper by
# meaning not listed yet, so the first page of "making language models cheaper to run" holds the
# quantization and KV-cache papers meaning finds, not only papers that say "cheaper" and "run";
# the first four places stay the fused ranking's (a sentence that is a paper's own summary finds
# it there). bench_relevance, tune part, against no such places: sentence P@10 0.169 -> 0.200,
# recall@50 0.140 -> 0.151, conceptual R@1 0.964 and MRR@10 0.974 unchanged; (from, every)
# (1, 2) / (1, 3) / (2, 2) / (3, 3): P@10 0.177 / 0.200 / 0.192 / 0.200, recall@50 0.153 /
# 0.147 / 0.152 / 0.145, conceptual MRR@10 0.973 / 0.973 / 0.974 / 0.974. Held-out part (measured
# once, after the choice): sentence P@10 0.192 -> 0.215 but recall@50 0.205 -> 0.201, an average
# of 13 queries' recall: the relevant papers in the first 50 rose from 98 to 108 of 674, but the
# two queries with the fewest (13 and 10) each lost papers found by words at places 39-48 to
# meaning's places (robot grasping 9 -> 7, jailbreaks 5 -> 4), and each of those weighs 0.08-0.1.
SENTENCE_FROM: int | None = 4
SENTENCE_EVERY = 2
# For a query too long for the every-word tier, a paper counts as holding its words when its
# bm25 is at least this share of the best paper's.
LONG_QUERY_SHARE = 0.5


@dataclass
class Fusion:
    vector_weight: float = 0.3
    sparse_boost: float = 1.0      # vector weight when full text has little evidence
    sparse_below: int = 5          # ... because it found fewer hits than this
    lexical_pivot: float | None = None  # ... or because its best bm25 score is below this
    lexical_spread: float = 3.0
    floor_rank: int = CANDIDATES   # cosine at this rank maps to 0
    # From this rank on, every `interleave_every`-th place goes to the best paper found only by
    # meaning, so that papers without the query's words still reach the first pages.
    interleave_from: int | None = 10
    interleave_every: int = 3
    # Vector weight for a sentence or a question (Query.sentence); None: the same as any query.
    sentence_weight: float | None = SENTENCE_WEIGHT
    # For a sentence or a question, from this place on (0-based) every ``sentence_every``-th place
    # goes to the nearest paper by meaning not listed yet (None: no such places).
    sentence_from: int | None = SENTENCE_FROM
    sentence_every: int = SENTENCE_EVERY
    meaning_floor: float = MEANING_FLOOR
    meaning_spread: float = MEANING_SPREAD

    def close_in_meaning(self, vec: list[tuple[str, float]]) -> set[str]:
        """Papers of ``vec`` (raw cosines, best first) clearly related to the query by meaning."""
        if not vec:
            return set()
        bar = max(self.meaning_floor, vec[0][1] - self.meaning_spread)
        return {pid for pid, cosine in vec if cosine >= bar}

    def related_in_meaning(self, vec: list[tuple[str, float]]) -> set[str]:
        """Papers of ``vec`` above the floor that unrelated text reaches: what relevance order may
        list below the papers holding the words (it ranks them by fused score, so they rarely reach
        the first places); a query nothing is related to still finds nothing."""
        return {pid for pid, cosine in vec if cosine >= self.meaning_floor}

    def weight(self, fts: list[tuple[str, float]], sentence: bool = False) -> float:
        base = self.sentence_weight if sentence and self.sentence_weight is not None else self.vector_weight
        if len(fts) < self.sparse_below:
            return max(base, self.sparse_boost)
        if self.lexical_pivot is None:
            return base
        # Weak lexical evidence (only common words matched) hands the query to the vectors.
        x = (self.lexical_pivot - fts[0][1]) / self.lexical_spread
        share = 1 / (1 + math.exp(-max(-30.0, min(30.0, x))))
        return base + (max(base, self.sparse_boost) - base) * share


def fuse(fts: list[tuple[str, float]], vec: list[tuple[str, float]],
         fusion: Fusion, sentence: bool = False) -> dict[str, tuple[float, float | None, float | None]]:
    """Fused score per paper id, with the normalised full-text and vector parts."""
    out: dict[str, list[float | None]] = {}
    if fts:
        top = fts[0][1] or 1.0
        for pid, s in fts:
            out.setdefault(pid, [None, None])[0] = s / top
    if vec:
        best = vec[0][1]
        floor = vec[min(len(vec), fusion.floor_rank) - 1][1]
        span = best - floor if best > floor else 1.0
        for pid, s in vec:
            out.setdefault(pid, [None, None])[1] = max(0.0, (s - floor) / span)
    weight = fusion.weight(fts, sentence)
    return {pid: ((f or 0.0) + weight * (v or 0.0), f, v) for pid, (f, v) in out.items()}


PHRASE_POOL = 1000  # phrase matches read (newest first) and ranked by the in-memory index


def _tier_plan(query: Query, columns: tuple[str, ...], max_terms_for_all: int, phrase: bool) -> list[tuple[str, str]]:
    """(kind, FTS5 expression) per tier, narrowest first; the last is the broad one."""
    words = len(query.terms) + len(query.phrases)
    if words < 2 or words > max_terms_for_all:
        return [("any", query.match("any", columns))]
    plan = []
    if phrase and query.terms and not query.phrases:
        text = '"' + " ".join(query.terms) + '"'
        title_cols = tuple(c for c in columns if c == "title") or ("title",)
        plan += [("title phrase", f"{{{' '.join(title_cols)}}} : {text}"),
                 ("phrase", f"{{{' '.join(columns)}}} : {text}" if columns else text)]
    return plan + [("all", query.match("all", columns)), ("any", query.match("any", columns))]


def _memory_tiers(store: Store, lexical: LexicalIndex, query: Query, limit: int, field_weights: tuple[float, ...],
                  plan: list[tuple[str, str]]) -> Callable[[str, str], list[tuple[int, float]]]:
    """Tiers ranked by the in-memory index: every word and some words entirely in memory.

    Phrases need word positions, which only FTS5 keeps; reading them costs time in proportion to
    how common the words are (10-60 ms at a million papers), so each phrase is read once:
    - the index counts the papers with every word; when that is at most the pool, FTS5 ranks
      the phrase's papers by bm25 in one pass (cheap for so few);
    - otherwise FTS5 reads the newest matches without ranking (it stops at the pool), and the
      index ranks them by the words, unless they were fewer than the pool after all;
    - the title tier is the part of those results whose title holds the phrase, checked here,
      instead of a second FTS5 read.
    bench_relevance: ranking phrase matches by the words instead of FTS5's phrase bm25 costs
    topical P@10 0.012, so the index does that only where FTS5 would score many thousands."""
    every = lexical.terms(query.terms)
    some = lexical.terms([t for t in query.terms if t not in STOPWORDS] or query.terms)
    pool = max(PHRASE_POOL, 10 * limit)
    anywhere = next((expr for kind, expr in plan if kind == "phrase"), "")
    found: list[list[tuple[int, float]]] = []

    def phrase() -> list[tuple[int, float]]:
        if not found:
            if lexical.count_all(every) > pool and len(rowids := store.search.fulltext_rowids(anywhere, pool)) >= pool:
                found.append(lexical.score(rowids, every)[:limit])
            else:
                found.append(store.search.fulltext(anywhere, SearchFilters(), limit, field_weights, by_rowid=True))
        return found[0]

    def run(kind: str, expression: str) -> list[tuple[int, float]]:
        if kind == "title phrase":
            hits = phrase()
            titles = store.search.fulltext_titles([rowid for rowid, _ in hits])
            return [(rowid, s) for rowid, s in hits if _holds(lexical.analyzer.terms(titles.get(rowid, "")), every)]
        if kind == "phrase":
            return phrase()
        if kind == "all":
            return lexical.top_all(every, limit)
        return lexical.top_any(some, limit)

    return run


def _holds(terms: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(terms[i:i + n] == phrase for i in range(len(terms) - n + 1))


@dataclass
class FullText:
    hits: list[tuple[str, float]]
    every_word: set[str]  # papers known to hold every query word (found by the narrow tiers)


def tiered_fulltext(store: Store, query: Query, filters: SearchFilters, limit: int = CANDIDATES,
                    columns: tuple[str, ...] = (), field_weights: tuple[float, ...] | None = None,
                    max_terms_for_all: int = 6, phrase: bool = False,
                    lexical: LexicalIndex | None = None, pairs_in: PairCounter | None = None) -> FullText:
    """bm25 results in tiers for short queries: (with ``phrase``) the words as a phrase in the
    title, then as a phrase anywhere; then every word; then some. bm25 orders each tier, and
    the first places are reordered by word pairs (``proximity``).

    With a ready ``lexical`` index the tiers are ranked in memory (fast on any corpus size); a
    filtered search then ranks a wider pool and filters it, and falls back to SQL when the
    filter leaves too few. User-quoted phrases always go to SQL."""
    plan = _tier_plan(query, columns, max_terms_for_all, phrase)
    weights = FTS_WEIGHTS if field_weights is None else field_weights
    found: FullText | None = None
    if lexical is not None and lexical.ready and not query.phrases:
        pool = limit * 10 if filters.active else limit
        hits, narrow = _run_tiers(plan, _memory_tiers(store, lexical, query, pool, weights, plan), pool)
        ids = store.search.ids_for_rowids([rowid for rowid, _ in hits], filters)
        if len(ids) >= limit or len(hits) < pool:
            found = FullText([(ids[rowid], s) for rowid, s in hits if rowid in ids][:limit],
                             {ids[rowid] for rowid, _ in hits[:narrow] if rowid in ids})
    if found is None:
        hits, narrow = _run_tiers(plan, lambda kind, expr: store.search.fulltext(expr, filters, limit, weights),
                                  limit)
        found = FullText(hits, {pid for pid, _ in hits[:narrow]})
    if len(query.terms) + len(query.phrases) == 1:
        found.every_word = {pid for pid, _ in found.hits}
    found.hits = proximity(store, query, found.hits, pairs_in=pairs_in)
    return found


def _run_tiers(plan: list[tuple[str, str]], run: Callable[[str, str], list[tuple[Any, float]]],
               limit: int) -> tuple[list[tuple[Any, float]], int]:
    """The tiers' results, best first, and how many of them came from the narrow tiers."""
    narrow, broad = (plan[:-1], plan[-1]) if len(plan) > 1 else ([], plan[0])
    tiers: list[list[tuple[Any, float]]] = []
    seen: set[Any] = set()
    for kind, expr in narrow:
        tier = [(key, s) for key, s in run(kind, expr) if key not in seen]
        tiers.append(tier)
        seen.update(key for key, _ in tier)
        if len(seen) >= limit:
            break
    # The broad OR query scores every paper with any of the words: run it only when the
    # narrower tiers leave places free.
    some = [] if len(seen) >= limit else [(key, s) for key, s in run(*broad) if key not in seen]
    lift = max((s for tier in tiers for s in (x[1] for x in tier)), default=0.0)
    lift = max(lift, max((s for _, s in some), default=0.0))
    out = [(key, s + lift * (len(tiers) - level)) for level, tier in enumerate(tiers) for key, s in tier]
    return (out + some)[:limit], min(len(out), limit)


PROXIMITY_DEPTH = 30
PROXIMITY_WEIGHT = 3.0


def proximity(store: Store, query: Query, hits: list[tuple[str, float]], depth: int = PROXIMITY_DEPTH,
              weight: float = PROXIMITY_WEIGHT, pairs_in: PairCounter | None = None) -> list[tuple[str, float]]:
    """Reorder the first ``depth`` hits by how many adjacent word pairs of the query (stopwords
    left out, words stemmed) they hold in title or abstract: bm25 counts words wherever they
    are, while "mixture of experts" in the text is much better evidence than the three words
    apart. bench_relevance: conceptual MRR@10 0.957 -> 0.971, nothing else lower."""
    pairs = word_pairs(query.text)
    if not pairs or len(hits) < 2:
        return hits
    texts = store.search.titles_and_abstracts([pid for pid, _ in hits[:depth]])
    found = (pairs_in or PairCounter(size=0)).count(pairs, texts)
    top = [(pid, score + weight * found.get(pid, 0)) for pid, score in hits[:depth]]
    top.sort(key=lambda kv: -kv[1])
    return top + hits[depth:]


Ranked = list[tuple[str, tuple[float, float | None, float | None]]]


def rank(fts: list[tuple[str, float]], vec: list[tuple[str, float]], fusion: Fusion,
         every_word: set[str] | None = None, sentence: bool = False) -> Ranked:
    """Fused ranking, best first. After the first places, every ``interleave_every``-th place
    goes to the best paper (by fused score) that lacks some query word: found by meaning, or by
    some of the words. (``every_word``: papers known to hold all the words; by default every
    paper full text found.) bench_relevance: non-lexical recall@50 0.070 -> 0.129, P@10 the same."""
    fused = fuse(fts, vec, fusion, sentence)
    ranked = sorted(fused.items(), key=lambda kv: (-kv[1][0], kv[0]))
    if fusion.interleave_from is None or not vec:
        return ranked
    lexical = every_word if every_word is not None else {pid for pid, _ in fts}
    others = [item for item in ranked if item[0] not in lexical]
    if not others:
        return ranked
    chosen = {pid for pid, _ in others}
    rest = [item for item in ranked if item[0] not in chosen]
    out = rest[: fusion.interleave_from]
    rest, extra = rest[fusion.interleave_from:], iter(others)
    while rest:
        for _ in range(fusion.interleave_every - 1):
            if rest:
                out.append(rest.pop(0))
        nxt = next(extra, None)
        if nxt is None:
            break
        out.append(nxt)
    out += rest + list(extra)
    return out


@dataclass
class Selection:
    ranked: Ranked  # the result set, best first
    basis: str      # see Results.basis


def holding_words(query: Query, fts: list[tuple[str, float]], every_word: set[str] | None,
                  max_terms_for_all: int = 6) -> set[str]:
    """Papers that hold the query's words: every word of a short query (the narrow tiers); for
    a query too long for those, papers whose bm25 is near the best one's."""
    if every_word is None:
        return {pid for pid, _ in fts}
    if len(query.terms) + len(query.phrases) <= max_terms_for_all or not fts:
        return every_word
    bar = fts[0][1] * LONG_QUERY_SHARE
    return every_word | {pid for pid, s in fts if s >= bar}


def select(query: Query, fts: list[tuple[str, float]], vec: list[tuple[str, float]], fusion: Fusion,
           every_word: set[str] | None = None, mode: str = "hybrid", strict: bool = False) -> Selection:
    """The result set of a search, best first.

    The candidates are papers full text found (holding every word, or some) and the nearest
    papers by meaning. The nearest hundred always include papers unrelated to the query, so
    only those clearly close in meaning stay (``Fusion.close_in_meaning``): a query nothing is
    close to and no paper holds finds nothing, instead of 30 confident strangers.

    ``strict`` (a sort by date or upvotes, or a filter): only papers holding the query's words
    (every word of a short query) and papers close in meaning, so that the sort or filter
    reorders and narrows what was found, never papers that hold a word or two of it; papers with
    some of the words only when nothing else is found. Relevance order keeps those papers with
    some of the words where the ranking puts them (below the ones with every word), and, when some
    paper holds a word, the nearest papers above the meaning floor (``Fusion.related_in_meaning``);
    a sentence's ranking gives meaning places of its own (:func:`meaning_places`).

    ``vec`` holds raw cosines (VectorIndex.search)."""
    sentence = query.sentence
    if mode == "hybrid":
        ranked = rank(fts, vec, fusion, every_word, sentence)
    else:
        fused = fuse(fts, vec, fusion, sentence)
        part = 1 if mode == "fulltext" else 2
        ranked = sorted(((pid, (x[part] or 0.0, x[1], x[2])) for pid, x in fused.items()),
                        key=lambda kv: (-kv[1][0], kv[0]))
    some = {pid for pid, _ in fts}
    words = holding_words(query, fts, every_word) if some else set()
    meaning = fusion.close_in_meaning(vec) if mode != "fulltext" else set()
    if strict:
        keep = (words | meaning) or some
    elif some:
        # Relevance order with the query's words found: the nearest papers above the floor keep
        # the places the ranking gives them (below the papers holding the words). The bar is for
        # sorts and filters, which would put such papers first; cutting relevance order at it too
        # lost relevant papers that lack a word (the held-out figure of bench_relevance showed
        # it: topical non-lexical recall@50 0.312 -> 0.300; its tune part, with 52 such papers,
        # measures 0.096 either way, so this is a choice of design, not of tuning).
        keep = some | (fusion.related_in_meaning(vec) if mode != "fulltext" else set())
    else:
        keep = meaning
    basis = "words" if words else "some words" if some else "meaning" if meaning else "none"
    ranked = [item for item in ranked if item[0] in keep]
    if sentence and mode == "hybrid" and fusion.sentence_from is not None:
        ranked = meaning_places(ranked, [pid for pid, _ in vec if pid in keep], fusion.sentence_from,
                                fusion.sentence_every)
    return Selection(ranked, basis)


def meaning_places(ranked: Ranked, nearest: list[str], start: int, every: int) -> Ranked:
    """``ranked`` with places of meaning's own: from place ``start`` on, every ``every``-th place
    goes to the paper of ``nearest`` (ids of ``ranked``, nearest first) that is not listed yet."""
    item_of = dict(ranked)
    order = [pid for pid, _ in ranked]
    out: Ranked = []
    listed: set[str] = set()
    i = j = 0
    while len(out) < len(order):
        place = len(out)
        if place >= start and (place - start) % every == 0:
            while j < len(nearest) and nearest[j] in listed:
                j += 1
            if j < len(nearest):
                out.append((nearest[j], item_of[nearest[j]]))
                listed.add(nearest[j])
                continue
        while order[i] in listed:
            i += 1
        out.append((order[i], item_of[order[i]]))
        listed.add(order[i])
    return out


@dataclass(frozen=True)
class _Found:
    """A ranked result set as a search remembers it; pages are slices of ``ranked``. A sort by
    date or upvotes needs every paper of it (``hits``, in that order); relevance order reads only
    the papers of the page asked for (30, where the set can hold 200)."""
    ranked: Ranked
    hits: list[Hit] | None
    total: int
    total_exact: bool
    basis: str


class Searcher:
    """Search over a store; the embedder is created on first use (it loads the ONNX model).

    One Searcher serves every request thread of a web process: the indexes swap in new state
    or append under their own locks, and a search never waits for a refresh another thread
    is running (it searches what is loaded)."""

    def __init__(self, store: Store, embed_query: Callable[[str], np.ndarray] | None, index: VectorIndex | None,
                 fusion: Fusion | None = None, lexical: LexicalIndex | None = None) -> None:
        self.store, self.embed_query, self.index = store, embed_query, index
        self.fusion = fusion or Fusion()
        self.lexical = lexical
        self.pairs_in = PairCounter()
        self._warmed = threading.Event()
        self.restore: Callable[[], object] | None = None  # starts the indexes from snapshots, in warm()
        self._recent: OrderedDict[tuple[Any, ...], tuple[float, _Found]] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once :meth:`warm` has loaded the indexes and the embedding model."""
        return self._warmed.is_set()

    def warm(self) -> threading.Thread:
        """Load the indexes and the embedding model in a background thread (minutes at a million
        papers); searches run on SQL full text until the in-memory one is ready."""
        def load() -> None:
            if self.restore is not None:
                self.restore()
            if self.lexical is not None:
                self.lexical.refresh()
            if self.index is not None:
                self.index.refresh()
            if isinstance(self.embed_query, QueryEmbedder):
                self.embed_query.load()
            self._warmed.set()

        thread = threading.Thread(target=load, name="papertrend-index", daemon=True)
        thread.start()
        return thread

    def _lexical(self) -> LexicalIndex | None:
        if self.lexical is None or not self.lexical.ready:
            return None
        self.lexical.refresh(wait=False, recheck_after=FRESHNESS)
        return self.lexical

    def search(self, raw: str, filters: SearchFilters | None = None, sort: str = "relevance",
               mode: str = "hybrid", limit: int = 20, offset: int = 0) -> Results:
        """Results ``offset`` to ``offset + limit`` of the result set (see :func:`select`), and
        its total."""
        filters = filters if filters is not None else SearchFilters()
        query = parse(raw)
        results = Results(query, mode=mode, sort=sort)
        if query.empty:
            return results
        lexical = self._lexical()
        if self.index is not None:
            self.index.refresh(wait=False, recheck_after=FRESHNESS)
        # Relevance order ranks CANDIDATES papers and ranks deeper only for a page past them (when
        # more papers hold the words), so the first pages of a query share one ranking and one
        # remembered result. A sort by date or upvotes orders the SORT_POOL most relevant papers
        # of the set: the newest of 3,000 papers that mention "language model" would need all
        # 3,000 read, and 300,000 at a million papers.
        pool = CANDIDATES if sort == "relevance" else SORT_POOL
        # Papers moderators hid never enter the set, so the total and every page leave them out
        # (a post-filter would count them and leave holes in pages). One small read per search.
        hidden = frozenset(self.store.community.hidden_paper_ids())
        found = self._remembered(query, filters, sort, mode, pool, lexical, hidden)
        need = offset + limit
        if sort == "relevance" and need > len(found.ranked) and found.total > len(found.ranked):
            pool = CANDIDATES * -(-need // CANDIDATES)
            found = self._remembered(query, filters, sort, mode, pool, lexical, hidden)
        if found.hits is not None:
            results.hits = found.hits[offset:offset + limit]
        else:
            page = found.ranked[offset:offset + limit]
            papers = self.store.papers.get_many([pid for pid, _ in page])
            results.hits = [Hit(papers[pid], s, f, v) for pid, (s, f, v) in page if pid in papers]
        results.total, results.total_exact, results.basis = found.total, found.total_exact, found.basis
        # A lower bound on the total still offers the next page, which ranks deeper.
        results.listed = (found.total + (0 if found.total_exact else limit)) if sort == "relevance" \
            else len(found.hits or [])
        return results

    def _remembered(self, query: Query, filters: SearchFilters, sort: str, mode: str, pool: int,
                    lexical: LexicalIndex | None, hidden: frozenset[str] = frozenset()) -> _Found:
        # Many readers ask what is trending this week: the same query within RECENT_SECONDS, on
        # indexes that have not changed since, is answered from memory. A search costs ~10 ms of
        # CPU; at 32 clients a queue of repeated searches was most of the mix's p99.
        key = (query.text, filters, sort, mode, pool, lexical.seq if lexical else -1,
               self.index.seq if self.index is not None else -1, hidden)
        now = time.monotonic()
        with self._recent_lock:
            remembered = self._recent.get(key)
            if remembered is not None and now - remembered[0] < RECENT_SECONDS:
                self._recent.move_to_end(key)
                return remembered[1]
        found = self._search(query, filters, sort, mode, pool, lexical, hidden)
        with self._recent_lock:
            self._recent[key] = (now, found)
            while len(self._recent) > RECENT_SIZE:
                self._recent.popitem(last=False)
        return found

    def _search(self, query: Query, filters: SearchFilters, sort: str, mode: str, pool: int,
                lexical: LexicalIndex | None, hidden: frozenset[str] = frozenset()) -> _Found:
        fts: list[tuple[str, float]] = []
        every_word: set[str] | None = None
        vec: list[tuple[str, float]] = []
        vector: Callable[[], np.ndarray] | None = None
        if mode in ("hybrid", "vector") and self.embed_query is not None and self.index is not None:
            if len(self.index):
                # The model runs in its own thread while full text ranks here (ONNX Runtime releases
                # the interpreter lock): a page for a query not seen before took 16.8 ms of CPU and,
                # for one client, 12.5 ms instead of about 17 ms.
                embed = self.embed_query
                vector = embed.start(query.text) if isinstance(embed, QueryEmbedder) else partial(embed, query.text)
        if mode in ("hybrid", "fulltext"):
            found = tiered_fulltext(self.store, query, filters, limit=pool, phrase=True, lexical=lexical,
                                    pairs_in=self.pairs_in)
            fts, every_word = found.hits, found.every_word
        more_hold_words = len(fts) >= pool  # before hidden papers leave: more may hold the words
        fts = [(pid, s) for pid, s in fts if pid not in hidden]
        if vector is not None and self.index is not None:
            # Meaning adds its CANDIDATES nearest papers on every page, so the set (and its total)
            # stays the same however deep one pages.
            vec = self.index.search(vector(), CANDIDATES * (5 if filters.active else 1))
            if filters.active:
                allowed = self.store.search.filter_ids([pid for pid, _ in vec], filters)
                vec = [(pid, s) for pid, s in vec if pid in allowed]
            vec = [(pid, s) for pid, s in vec if pid not in hidden][:CANDIDATES]
        chosen = select(query, fts, vec, self.fusion, every_word, mode,
                        strict=sort != "relevance" or filters.active)
        ranked = chosen.ranked
        total, exact = len(ranked), True
        if more_hold_words and chosen.basis == "words":
            # More papers hold the words than were ranked: count them all where that is cheap
            # (the in-memory index, no filter, a query short enough for the every-word tier).
            if lexical is not None and not filters.active and not query.phrases and every_word is not None \
                    and 1 <= len(query.terms) <= 6:
                terms = lexical.terms(query.terms)
                holding = lexical.count_all(terms) - self._hidden_holding(hidden, terms, lexical)
                ranked_holding = sum(1 for pid, _ in ranked if pid in every_word)
                total += max(0, holding - ranked_holding)
            else:
                exact = False
        if sort == "relevance":
            return _Found(ranked, None, total, exact, chosen.basis)
        papers = self.store.papers.get_many([pid for pid, _ in ranked])
        hits = [Hit(papers[pid], s, f, v) for pid, (s, f, v) in ranked if pid in papers]
        if sort == "date":
            hits.sort(key=lambda h: (h.paper.list_date or h.paper.published or "", h.score), reverse=True)
        elif sort == "upvotes":
            hits.sort(key=lambda h: (h.paper.upvotes, h.score), reverse=True)
        return _Found(ranked, hits, total, exact, chosen.basis)

    def _hidden_holding(self, hidden: frozenset[str], terms: list[str], lexical: LexicalIndex) -> int:
        """How many hidden papers hold every one of ``terms`` (index terms), in the columns the
        full-text index reads (title, abstract, authors, keywords)."""
        if not hidden:
            return 0
        papers = self.store.papers.get_many(sorted(hidden))
        texts = [" ".join([p.title, p.abstract, ", ".join(a.name for a in p.authors), ", ".join(p.ai_keywords)])
                 for p in papers.values()]
        wanted = set(terms)
        return sum(1 for held in lexical.analyzer.terms_many(texts) if wanted <= set(held))

    def similar(self, paper: Paper, k: int = 5) -> list[Hit]:
        """Nearest papers by meaning; by title words when the paper has no vector yet."""
        if self.index is not None:
            self.index.refresh(wait=False, recheck_after=FRESHNESS)
            vec = self.index.vector_of(paper.id)
            if vec is not None:
                near = [(pid, s) for pid, s in self.index.search(vec, k + 1) if pid != paper.id][:k]
                papers = self.store.papers.get_many([pid for pid, _ in near])
                return [Hit(papers[pid], s, None, s) for pid, s in near if pid in papers]
        query = parse(paper.title)
        if query.empty:
            return []
        found = [(pid, s) for pid, s in self.store.search.fulltext(query.match("any"), SearchFilters(), k + 1)
                 if pid != paper.id][:k]
        papers = self.store.papers.get_many([pid for pid, _ in found])
        return [Hit(papers[pid], s, s, None) for pid, s in found if pid in papers]


class QueryEmbedder:
    """Query text to vector with an Embedder made on first use (loading the model takes about
    a second), shared by every thread: ONNX Runtime's ``run`` is thread-safe, and the tokenizer
    is configured once, before any thread uses it (reconfiguring it during an encode is what
    raises tokenizers' "Already borrowed").

    The model runs in ``threads`` threads of its own (:meth:`start`), so that a search ranks its
    full text meanwhile. The last ``cache_size`` queries' vectors are kept: a results page and its
    JSON twin, another sort or filter, a reload all ask for the same text, and the model costs
    2.3 ms a query alone, 5 ms between searches (measured on 2 busy cores)."""

    def __init__(self, max_tokens: int, cache_size: int = 1024, threads: int = 2) -> None:
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._embedder: Any = None
        self._load_lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="papertrend-model")

    def load(self) -> Any:
        if self._embedder is None:
            with self._load_lock:
                if self._embedder is None:
                    from ..enrich.embeddings import Embedder

                    self._embedder = Embedder(max_tokens=self.max_tokens, threads=1)
        return self._embedder

    def start(self, text: str) -> Callable[[], np.ndarray]:
        """Begin embedding ``text`` (unless its vector is kept); call the result for the vector."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
        if vector is not None:
            return lambda: vector
        return self._pool.submit(self._embed, text).result

    def __call__(self, text: str) -> np.ndarray:
        return self.start(text)()

    def _embed(self, text: str) -> np.ndarray:
        vector = self.load().embed_query(text)
        vector.setflags(write=False)  # shared by every search of this text
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > self.cache_size:
                self._vectors.popitem(last=False)
        return vector


def build_searcher(settings: Settings, store: Store) -> Searcher:
    """A Searcher whose embedding model loads on the first query that needs it (or in ``warm``)."""
    from ..enrich.embeddings import MODEL_ID

    fusion = Fusion(vector_weight=settings.search_vector_weight,
                    lexical_pivot=settings.search_lexical_pivot if settings.search_lexical_pivot > 0 else None)
    searcher = Searcher(store, QueryEmbedder(settings.embedding_max_tokens),
                        make_index(store, MODEL_ID, settings.vector_index), fusion, LexicalIndex(store))
    searcher.restore = partial(restore_indexes, settings.snapshot_path, database_identity(str(settings.database_url)),
                               searcher.lexical, searcher.index)
    return searcher
