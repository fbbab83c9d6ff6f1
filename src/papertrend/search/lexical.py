"""Full-text ranking in memory, fast at a million papers.

FTS5's bm25() scores every row an OR query matches: at a million papers one common word
("model") means half the corpus, about 0.6 s per search. This index keeps, for each term, the
papers containing it (ascending) with their BM25 term weight precomputed, and finds the best k
with MaxScore: terms that can add the most are summed over all their papers; once the rest
cannot lift an unseen paper into the top k, they are added only to the papers already found.
That is exact, not an approximation.

Scores are FTS5's bm25 (same tokenizer, same column weights, k1 1.2, b 0.75), so the ranking
is the SQL path's. The index is built from the FTS table's own text and kept current from
``paper_text_log`` (written by triggers): each refresh reads only what changed.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from ..store import Store
from ..store.migrations import FTS_TOKENIZE
from ..store.search import FTS_WEIGHTS
from .freshness import LastLook
from .query import STOPWORDS
from .snapshot import Strings, pack_strings

K1, B = 1.2, 0.75
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits, as unicode61 splits
# The same split for ASCII text, twice as fast as the regex (0.52 against 1.09 ms for 30 abstracts).
_ASCII_SEPARATORS = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalnum()})


def _words(text: str) -> list[str]:
    text = text.lower()
    return text.translate(_ASCII_SEPARATORS).split() if text.isascii() else _WORD.findall(text)


class Analyzer:
    """Text to index terms exactly as the FTS5 index makes them (porter over unicode61, diacritics
    removed): each new distinct word goes once through an in-memory FTS5 table with the same
    tokenizer, and its terms are remembered. (This SQLite holds no data; it is the tokenizer.)

    Safe to share between threads: lookups read plain dicts, and learning new words (the only
    writer, and the only user of the SQLite connection) holds a lock."""

    def __init__(self, tokenize: str = FTS_TOKENIZE) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE words USING fts5(word, tokenize = '{tokenize}')")
        self._db.execute("CREATE VIRTUAL TABLE word_terms USING fts5vocab(words, 'instance')")
        self._terms: dict[str, tuple[str, ...]] = {}
        self._content: dict[str, tuple[str, ...]] = {}  # the same without stop terms
        self._lock = threading.Lock()
        self.stop_terms: frozenset[str] = frozenset()
        self.stop_terms = frozenset(t for terms in self.terms_many(sorted(STOPWORDS)) for t in terms)
        with self._lock:
            for word, terms in self._terms.items():
                self._content[word] = tuple(t for t in terms if t not in self.stop_terms)

    def terms(self, text: str) -> list[str]:
        return self.terms_many([text])[0]

    def terms_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Terms of each text; new words are learnt in one batch."""
        return self._lookup(texts, self._terms)

    def content_terms_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Terms of each text without the stop terms (the terms of STOPWORDS)."""
        return self._lookup(texts, self._content)

    def _lookup(self, texts: Sequence[str], known: dict[str, tuple[str, ...]]) -> list[list[str]]:
        # map() and chain() keep the per-word loop in C: 30 abstracts per search make this hot.
        words = [_words(text) if text else [] for text in texts]
        try:
            return [list(chain.from_iterable(map(known.__getitem__, ws))) for ws in words]
        except KeyError:  # some words are new: learn them all in one batch
            self._learn({w for ws in words for w in ws if w not in known})
            return [list(chain.from_iterable(map(known.__getitem__, ws))) for ws in words]

    def _learn(self, words: Iterable[str]) -> None:
        with self._lock:
            new = list(dict.fromkeys(w for w in words if w not in self._terms))
            if not new:
                return
            self._db.executemany("INSERT INTO words (rowid, word) VALUES (?, ?)", enumerate(new))
            found: dict[int, list[str]] = {}
            for term, row, _ in self._db.execute("SELECT term, doc, offset FROM word_terms ORDER BY doc, offset"):
                found.setdefault(row, []).append(term)
            self._db.execute("DELETE FROM words")
            for i, word in enumerate(new):
                terms = tuple(found.get(i, ()))
                # _content first: a reader that finds a word in _terms finds it in _content too.
                self._content[word] = tuple(t for t in terms if t not in self.stop_terms)
                self._terms[word] = terms


_shared: list[Analyzer] = []
_shared_lock = threading.Lock()


def default_analyzer() -> Analyzer:
    """One analyzer per process, so every index and query shares the learnt words."""
    with _shared_lock:
        if not _shared:
            _shared.append(Analyzer())
        return _shared[0]


def word_pairs(*texts: str, analyzer: Analyzer | None = None) -> set[tuple[str, str]]:
    """Adjacent pairs of index terms in the ``texts``, stopwords left out ("mixture of experts"
    gives (mixtur, expert)). Pairs never span two texts."""
    analyzer = analyzer or default_analyzer()
    pairs: set[tuple[str, str]] = set()
    for terms in analyzer.content_terms_many(texts):
        pairs.update(zip(terms, terms[1:], strict=False))
    return pairs


class PairCounter:
    """How many of a query's word pairs each paper's title and abstract hold as adjacent terms:
    ``len(pairs & word_pairs(title, abstract))``, computed faster.

    Looking up every word of 30 abstracts in the analyzer's dict (58,000 words for the shared
    data, beyond the CPU caches) cost 1.5 to 2.4 ms a search; so the stopword-free terms of the
    last ``size`` papers are kept, joined by spaces, and a pair is a substring search in them
    (terms never hold a space). An entry is used only while the paper's text is the same.
    Shared by threads."""

    def __init__(self, analyzer: Analyzer | None = None, size: int = 4096) -> None:
        self.analyzer = analyzer or default_analyzer()
        self.size = size
        self._entries: OrderedDict[str, tuple[tuple[str, ...], tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, pairs: set[tuple[str, str]], texts: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
        """Pairs held per paper id, for papers given by their texts (title, abstract)."""
        needles = [f" {a} {b} " for a, b in pairs]
        return {pid: sum(1 for needle in needles if any(needle in text for text in joined))
                for pid, joined in self._joined(texts).items()}

    def _joined(self, texts: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        with self._lock:
            for pid, group in texts.items():
                entry = self._entries.get(pid)
                if entry is not None and entry[0] == group:
                    self._entries.move_to_end(pid)
                    out[pid] = entry[1]
        todo = [pid for pid in texts if pid not in out]
        if not todo:
            return out
        flat = iter(self.analyzer.content_terms_many([text for pid in todo for text in texts[pid]]))
        fresh = {pid: tuple(" " + " ".join(next(flat)) + " " for _ in texts[pid]) for pid in todo}
        if self.size:
            with self._lock:
                for pid, joined in fresh.items():
                    self._entries[pid] = (texts[pid], joined)
                    self._entries.move_to_end(pid)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        out.update(fresh)
        return out


class Postings:
    """Each term's papers (ascending doc numbers, int32) with their impacts (float16), and the
    term's largest impact: the lists of a snapshot (mapped read-only, shared by every process
    that maps the file) under the lists built or grown in memory since (``own``).

    A snapshot's terms are one sorted UTF-8 blob looked up by binary search, so a process that
    maps it holds no per-term objects of its own."""

    CACHE = 100_000  # positions of looked-up terms kept (queries use few distinct terms)

    def __init__(self, own: dict[str, tuple[np.ndarray, np.ndarray, float]] | None = None,
                 base: dict[str, np.ndarray] | None = None, found: dict[str, int] | None = None,
                 tail: dict[str, tuple[np.ndarray, np.ndarray, float]] | None = None) -> None:
        self._own = own if own is not None else {}
        self._base = base
        # Papers added since the snapshot to a term the snapshot has: kept beside its mapped list
        # and joined when asked for, so a top-up never copies a shared list into this process
        # (a frequent term's list is megabytes, and 2,000 new papers touch most frequent terms).
        self._tail = tail if tail is not None else {}
        self._terms = Strings(base["term_blob"], base["term_ends"]) if base is not None else None
        # A binary search costs ~10 µs a term: each search looks its terms up several times.
        self._found = found if found is not None else {}

    def get(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        found = self._own.get(term)
        if found is not None:
            return found[0], found[1]
        i = self._find(term)
        if i < 0:
            return None
        assert self._base is not None
        start, end = int(self._base["starts"][i]), int(self._base["starts"][i + 1])
        docs, impact = self._base["docs"][start:end], self._base["impact"][start:end]
        tail = self._tail.get(term)
        if tail is not None:
            return np.concatenate([docs, tail[0]]), np.concatenate([impact, tail[1]])
        return docs, impact

    def top(self, term: str) -> float:
        found = self._own.get(term)
        if found is not None:
            return found[2]
        i = self._find(term)
        base = float(self._base["top"][i]) if i >= 0 and self._base is not None else 0.0
        tail = self._tail.get(term)
        return max(base, tail[2]) if tail is not None else base

    def _find(self, term: str) -> int:
        if self._terms is None:
            return -1
        i = self._found.get(term)
        if i is None:
            i = self._terms.index_sorted(term)
            if len(self._found) >= self.CACHE:
                self._found.clear()
            self._found[term] = i
        return i

    def extend(self, term: str, docs: np.ndarray, impact: np.ndarray, top: float) -> None:
        """Add papers numbered after every paper the term already has."""
        own = self._own.get(term) or self._tail.get(term)
        if own is not None:
            docs, impact, top = np.concatenate([own[0], docs]), np.concatenate([own[1], impact]), max(own[2], top)
        if term in self._own or self._find(term) < 0:
            self._own[term] = (docs, impact, top)
        else:
            self._tail[term] = (docs, impact, top)

    def copy(self) -> Postings:
        """A copy to change (the mapped lists are shared, never copied)."""
        return Postings(dict(self._own), self._base, self._found, dict(self._tail))

    def arrays(self) -> dict[str, np.ndarray]:
        """Every term's lists as the arrays of a snapshot: terms sorted by their UTF-8 bytes."""
        terms = set(self._own)
        if self._terms is not None:
            terms.update(self._terms[i] for i in range(len(self._terms)))
        ordered = sorted(terms, key=str.encode)
        lists = [self.get(term) for term in ordered]
        sizes = np.fromiter((len(x[0]) for x in lists if x is not None), np.int64, len(lists))
        starts = np.zeros(len(ordered) + 1, np.int64)
        np.cumsum(sizes, out=starts[1:])
        blob, ends = pack_strings(ordered)
        empty_docs, empty_impact = np.zeros(0, np.int32), np.zeros(0, np.float16)
        return {"term_blob": blob, "term_ends": ends, "starts": starts,
                "top": np.asarray([self.top(t) for t in ordered], np.float32),
                "docs": np.concatenate([x[0] for x in lists if x is not None] or [empty_docs]).astype(np.int32),
                "impact": np.concatenate([x[1] for x in lists if x is not None] or [empty_impact]).astype(np.float16)}


@dataclass
class _State:
    """One consistent view for searches; a refresh builds a new one and swaps it in."""
    postings: Postings = field(default_factory=Postings)
    rowid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # doc -> papers.rowid
    live: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    doc_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # rowid -> doc, -1 if none
    length: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # doc -> tokens
    docs: int = 0          # live documents
    tokens: float = 0.0    # their total length in tokens

    def idf(self, n: int) -> float:
        value = math.log((self.docs - n + 0.5) / (n + 0.5)) if self.docs else 0.0
        return value if value > 0 else 1e-6  # as FTS5 does for words in most rows


class LexicalIndex:
    CHUNK = 20_000  # changed papers read per query while loading

    def __init__(self, store: Store, weights: Sequence[float] = FTS_WEIGHTS[1:],
                 analyzer: Analyzer | None = None) -> None:
        self.store = store
        self.weights = tuple(weights)  # title, abstract, authors, keywords
        self.analyzer = analyzer or default_analyzer()
        self.seq = 0
        self._state = _State()
        self._ready = False
        self._lock = threading.Lock()
        self._last_look = LastLook()
        self.snapshot_seq = 0  # the change-log position of the snapshot it started from, if any
        self._snapshot: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None

    @property
    def ready(self) -> bool:
        return self._ready

    def __len__(self) -> int:
        return self._state.docs

    # -- snapshots (search/persist.py writes and reads the files) ---------------------------------

    def fingerprint(self) -> dict[str, Any]:
        """What a snapshot's lists depend on besides the text: it is used only if these match."""
        return {"weights": list(self.weights), "tokenize": FTS_TOKENIZE, "k1": K1, "b": B}

    def export(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The index as a snapshot's meta and arrays, consistent with ``seq`` (taken under the
        refresh lock: a refresh advances ``seq`` before it swaps its state in)."""
        with self._lock:
            state, seq = self._state, self.seq
        meta = {"seq": seq, "docs": state.docs, "tokens": state.tokens, **self.fingerprint()}
        return meta, {"rowid": state.rowid, "live": state.live, "doc_of": state.doc_of, "length": state.length,
                      **state.postings.arrays()}

    def restore(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        """Take a snapshot's state as this index's (its arrays are used in place, read-only);
        the next :meth:`refresh` tops it up from the change log after ``meta["seq"]``."""
        state = _State(Postings(base=dict(arrays)), arrays["rowid"], arrays["live"], arrays["doc_of"],
                       arrays["length"], int(meta["docs"]), float(meta["tokens"]))
        with self._lock:
            self._state, self.seq = state, int(meta["seq"])
            self.snapshot_seq, self._snapshot = int(meta["seq"]), (dict(meta), dict(arrays))

    def snapshot_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The meta and arrays this index was restored from (ValueError if it was not)."""
        if self._snapshot is None:
            raise ValueError("not restored from a snapshot")
        return self._snapshot

    def refresh(self, progress: Callable[[int], None] | None = None, wait: bool = True,
                recheck_after: float = 0.0) -> int:
        """Index text changed since the last refresh; returns how many changes were read. With
        ``wait=False`` it returns at once when another thread is refreshing; with
        ``recheck_after`` it does not ask the store again within that many seconds of its last
        look (searches: one store round trip saved per search, text at most that much stale)."""
        if self._last_look.recent(recheck_after):
            return 0
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            self._last_look.now()
            if self.store.search.text_log_top() <= self.seq:
                self._ready = True
                return 0
            old = self._state
            live, doc_of = old.live.copy(), old.doc_of.copy()
            docs, tokens = old.docs, old.tokens
            pending: dict[str, tuple[array, array]] = {}
            added = array("q")    # rowid of each new doc
            lengths = array("f")  # and its length in tokens
            first = len(old.rowid)
            changed = 0
            while rows := self.store.search.text_changes_after(self.seq, self.CHUNK):
                latest = {r[1]: r[2] for r in rows}  # a paper changed twice in a chunk: its last text
                top_rowid = max(latest)
                if top_rowid >= len(doc_of):
                    grown = np.full(max(top_rowid + 1, int(len(doc_of) * 1.25)), -1, np.int32)
                    grown[: len(doc_of)] = doc_of
                    doc_of = grown
                analysed = iter(self.analyzer.terms_many([x for texts in latest.values() if texts for x in texts]))
                for rid, texts in latest.items():
                    prev = int(doc_of[rid])
                    if prev >= 0:
                        if prev < first:
                            live[prev] = False
                            tokens -= float(old.length[prev])
                        else:
                            tokens -= lengths[prev - first]
                            lengths[prev - first] = -1.0  # replaced before it was ever searched
                        docs -= 1
                        doc_of[rid] = -1
                    if texts is None:
                        continue
                    doc = first + len(added)
                    size = self._add(doc, [next(analysed) for _ in texts], pending)
                    added.append(rid)
                    lengths.append(size)
                    doc_of[rid] = doc
                    docs += 1
                    tokens += size
                self.seq = rows[-1][0]
                changed += len(rows)
                if progress is not None:
                    progress(len(rows))
            new_lengths = np.frombuffer(lengths, dtype=np.float32)
            live = np.concatenate([live, new_lengths >= 0])
            rowid = np.concatenate([old.rowid, np.frombuffer(added, dtype=np.int64)])
            state = _State(old.postings.copy(), rowid, live, doc_of,
                           np.concatenate([old.length, np.maximum(new_lengths, 0)]), docs, tokens)
            avgdl = tokens / docs if docs else 1.0
            norm = K1 * (1 - B + B * np.maximum(new_lengths, 0) / avgdl)
            for term in list(pending):
                d, f = pending.pop(term)
                new_docs = np.frombuffer(d, dtype=np.int32)
                freq = np.frombuffer(f, dtype=np.float32)
                impact = (freq * (K1 + 1) / (freq + norm[new_docs - first])).astype(np.float16)
                state.postings.extend(term, new_docs, impact, float(impact.max()))
            self._state = state
            self._ready = True
            return changed
        finally:
            self._lock.release()

    def _add(self, doc: int, columns: list[list[str]], pending: dict[str, tuple[array, array]]) -> float:
        """Weighted term frequencies of one paper into ``pending``; returns its length in tokens."""
        freq: dict[str, float] = {}
        size = 0
        for weight, terms in zip(self.weights, columns, strict=False):
            size += len(terms)
            if weight:
                for term, count in Counter(terms).items():
                    freq[term] = freq.get(term, 0.0) + weight * count
        for term, value in freq.items():
            lists = pending.get(term)
            if lists is None:
                lists = pending[term] = (array("i"), array("f"))
            lists[0].append(doc)
            lists[1].append(value)
        return float(size)

    # -- search ----------------------------------------------------------------------------------

    def terms(self, words: Iterable[str]) -> list[str]:
        """Index terms of query words. A term twice counts twice ("know", "knowing"), as each is a
        phrase of its own to FTS5's bm25."""
        return [t for terms in self.analyzer.terms_many(list(words)) for t in terms]

    def _lists(self, state: _State, terms: Iterable[str]) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
        out = []
        for term in terms:
            found = state.postings.get(term)
            if found is not None:
                idf = state.idf(len(found[0]))
                out.append((idf * state.postings.top(term), idf, found[0], found[1]))
        return out

    def _ranked(self, state: _State, docs: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
        keep = state.live[docs]
        docs, scores = docs[keep], scores[keep]
        if len(docs) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            docs, scores = docs[part], scores[part]
        order = np.lexsort((state.rowid[docs], -scores))
        return [(int(state.rowid[d]), float(s)) for d, s in zip(docs[order], scores[order], strict=True)]

    def top_any(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(rowid, bm25) of the ``k`` best papers containing any of ``terms``."""
        state = self._state
        lists = sorted(self._lists(state, terms), key=lambda x: -x[0])
        if not lists or k <= 0:
            return []
        scores = np.zeros(len(state.rowid), np.float32)
        touched = np.zeros(len(state.rowid), bool)
        remaining = sum(x[0] for x in lists)
        candidates: np.ndarray | None = None
        for i, (bound, idf, docs, impact) in enumerate(lists):
            weight = np.float32(idf)
            if candidates is None or len(candidates) * 16 > len(docs):
                scores[docs] += weight * impact  # every paper of the term: cheaper than lookups
                touched[docs] = True
            else:
                pos = np.minimum(np.searchsorted(docs, candidates), len(docs) - 1)
                hit = docs[pos] == candidates
                scores[candidates[hit]] += weight * impact[pos[hit]]
            remaining -= bound
            if i + 1 == len(lists):
                break
            pool = candidates if candidates is not None else np.flatnonzero(touched)
            pool = pool[state.live[pool]]
            if len(pool) >= k:
                values = scores[pool]
                threshold = float(np.partition(values, len(values) - k)[len(values) - k])
                if remaining < threshold:
                    # Papers outside the pool, or too far below the k-th, cannot reach the top k
                    # with what the remaining terms can add (MaxScore): follow only the rest.
                    candidates = pool[values + remaining >= threshold]
        final = candidates if candidates is not None else np.flatnonzero(touched)
        return self._ranked(state, final, scores[final], k)

    def _all(self, terms: Sequence[str]) -> tuple[_State, np.ndarray, np.ndarray]:
        """Live papers holding every one of ``terms``, with their bm25: the rarest term's papers,
        looked up in the others' lists."""
        state = self._state
        lists = sorted(self._lists(state, terms), key=lambda x: len(x[2]))
        if len(lists) < len(terms) or not lists:
            return state, np.zeros(0, np.int32), np.zeros(0, np.float32)
        _, idf, docs, impact = lists[0]
        scores = np.float32(idf) * impact.astype(np.float32)
        for _, idf, other, other_impact in lists[1:]:
            pos = np.minimum(np.searchsorted(other, docs), len(other) - 1)
            hit = other[pos] == docs
            docs, scores = docs[hit], scores[hit] + np.float32(idf) * other_impact[pos[hit]]
        keep = state.live[docs]
        return state, docs[keep], scores[keep]

    def top_all(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(rowid, bm25) of the ``k`` best papers containing every one of ``terms``."""
        if k <= 0:
            return []
        state, docs, scores = self._all(terms)
        return self._ranked(state, docs, scores, k)

    def count_all(self, terms: Sequence[str]) -> int:
        """How many papers hold every one of ``terms``."""
        return len(self._all(terms)[1])

    def score(self, rowids: Sequence[int], terms: Sequence[str]) -> list[tuple[int, float]]:
        """bm25 of given papers for ``terms``, best first (papers not indexed are left out)."""
        state = self._state
        ids = np.asarray([r for r in rowids if 0 <= r < len(state.doc_of)], np.int64)
        docs = state.doc_of[ids] if len(ids) else np.zeros(0, np.int32)
        docs = np.sort(docs[docs >= 0])
        scores = np.zeros(len(docs), np.float32)
        for _, idf, other, impact in self._lists(state, terms):
            pos = np.minimum(np.searchsorted(other, docs), len(other) - 1)
            hit = other[pos] == docs
            scores[hit] += np.float32(idf) * impact[pos[hit]].astype(np.float32)
        return self._ranked(state, docs, scores, len(docs))
