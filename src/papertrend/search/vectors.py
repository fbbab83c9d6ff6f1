"""Vector search behind one interface: exact cosine with numpy by default.

The index is loaded from the store's ``paper_vectors`` table and kept current incrementally:
each refresh reads only rows with a higher ``seq`` than it has seen (a re-embedded paper gets a
new seq and overwrites its row).

Searches run in many threads while one thread refreshes: rows are written before the id list
grows, and a search reads the id count before the matrix, so it only sees rows already written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..enrich.embeddings import DIM
from ..errors import ConfigError
from ..store import Store
from .freshness import LastLook
from .snapshot import Strings, pack_strings

log = logging.getLogger("papertrend.search")

# pgvector's HNSW (vector_index = "pgvector"): pgvector's default M and ef_construction, and the
# memory its build may take (pgvector builds several times faster while the graph fits). Its
# efSearch is the setting pgvector_ef_search, raised per query to the number of results asked for
# (a scan yields at most efSearch rows); measured in bench/bench_pgvector.py.
PGVECTOR_M, PGVECTOR_EF_CONSTRUCTION, PGVECTOR_BUILD_MEMORY = 16, 64, "1GB"


class Ids(Sequence[str]):
    """Paper id per row: a snapshot's ids (mapped, shared) followed by the ones added since."""

    def __init__(self, base: Sequence[str] = (), added: list[str] | None = None) -> None:
        self._base, self._added = base, added if added is not None else []
        self._n = len(base)

    def __len__(self) -> int:
        return self._n + len(self._added)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self._base[i] if i < self._n else self._added[i - self._n]

    def extend(self, ids: Iterable[str]) -> None:
        self._added.extend(ids)


class RowOf(MutableMapping[str, int]):
    """Row per paper id: ids set since the snapshot, over the snapshot's (sorted ids and their
    rows, looked up by binary search: no per-paper object in the process)."""

    def __init__(self, ids: Strings | None = None, rows: np.ndarray | None = None) -> None:
        self._own: dict[str, int] = {}
        self._ids, self._rows = ids, rows
        self._new = 0  # ids in _own that the snapshot does not have

    def __getitem__(self, pid: str) -> int:
        found = self._own.get(pid)
        if found is not None:
            return found
        i = self._ids.index_sorted(pid) if self._ids is not None else -1
        if i < 0 or self._rows is None:
            raise KeyError(pid)
        return int(self._rows[i])

    def __setitem__(self, pid: str, row: int) -> None:
        if pid not in self._own and not self._in_base(pid):
            self._new += 1
        self._own[pid] = row

    def _in_base(self, pid: str) -> bool:
        return self._ids is not None and self._ids.index_sorted(pid) >= 0

    def __delitem__(self, pid: str) -> None:  # pragma: no cover - vectors are replaced, never removed
        raise TypeError("rows are never removed")

    def __len__(self) -> int:
        return (len(self._ids) if self._ids is not None else 0) + self._new

    def __iter__(self) -> Iterator[str]:
        if self._ids is not None:
            for i in range(len(self._ids)):
                yield self._ids[i]
        yield from (pid for pid in self._own if not self._in_base(pid))


def sorted_rows(row_of: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(blob, ends, rows) of every id sorted by its UTF-8 bytes, for a snapshot's RowOf."""
    pairs = sorted(((pid, row_of[pid]) for pid in row_of), key=lambda x: x[0].encode())
    blob, ends = pack_strings([pid for pid, _ in pairs])
    return blob, ends, np.fromiter((row for _, row in pairs), np.int64, len(pairs))


class VectorIndex:
    CHUNK = 20_000  # vectors read per query while loading, so memory stays near the matrix itself
    KIND = "exact"
    IN_PROCESS = True  # held in this process, so snapshots apply (not to pgvector's, in the database)

    def __init__(self, store: Store, model: str) -> None:
        self.store, self.model = store, model
        self.ids: Ids = Ids()
        self.row_of: MutableMapping[str, int] = {}
        # Rows below _nb are a snapshot's matrix (_base, mapped read-only and shared); a vector
        # replaced there goes to _patch, rows from _nb on to _buf (grown in this process).
        self._base = np.zeros((0, DIM), dtype=np.float32)
        self._nb = 0
        self._patch: dict[int, np.ndarray] = {}
        self._buf = np.zeros((0, DIM), dtype=np.float32)
        self.seq = 0
        self._lock = threading.Lock()
        self._last_look = LastLook()

    @property
    def matrix(self) -> np.ndarray:
        """Every row's vector (a copy when a snapshot is mapped)."""
        n = len(self.ids)
        if not self._nb:
            return self._buf[:n]
        out = np.concatenate([self._base, self._buf[: n - self._nb]])
        for row, vec in self._patch.items():
            out[row] = vec
        return out

    def __len__(self) -> int:
        return len(self.ids)

    def refresh(self, wait: bool = True, recheck_after: float = 0.0) -> int:
        """Load vectors stored since the last refresh; returns how many arrived. With
        ``wait=False`` it returns at once when another thread is loading (a search then uses
        what is loaded so far, instead of waiting minutes for a first load at a million papers);
        with ``recheck_after`` it does not ask the store again within that many seconds."""
        if self._last_look.recent(recheck_after):
            return 0
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            self._last_look.now()
            if self.store.vectors.top_seq() <= self.seq:
                return 0  # the common case, checked on every search: one index lookup
            count, _ = self.store.vectors.count(self.model)
            self._reserve(count - self._nb)
            arrived = 0
            while True:
                rows = self.store.vectors.after(self.model, self.seq, self.CHUNK)
                if not rows:
                    break
                new_ids: list[str] = []
                new_vecs: list[np.ndarray] = []
                for seq, paper_id, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    row = self.row_of.get(paper_id)
                    if row is not None and self._replace(row, vec):
                        pass
                    else:
                        self.row_of[paper_id] = len(self.ids) + len(new_ids)
                        new_ids.append(paper_id)
                        new_vecs.append(vec)
                    self.seq = max(self.seq, seq)
                if new_vecs:
                    self._append(new_ids, np.stack(new_vecs))
                arrived += len(rows)
            return arrived
        finally:
            self._lock.release()

    def _reserve(self, rows: int) -> None:
        # Allocate once for what the store holds (plus room to grow), instead of copying per chunk.
        if rows > self._buf.shape[0]:
            grown = np.zeros((max(rows, int(self._buf.shape[0] * 1.25)), DIM), dtype=np.float32)
            have = len(self.ids) - self._nb
            grown[:have] = self._buf[:have]
            self._buf = grown

    def _append(self, ids: list[str], vectors: np.ndarray) -> None:
        self._reserve(len(self.ids) - self._nb + len(ids))
        start = len(self.ids) - self._nb
        self._buf[start: start + len(ids)] = vectors
        self.ids.extend(ids)

    def _replace(self, row: int, vec: np.ndarray) -> bool:
        if row < self._nb:
            self._patch[row] = vec
        else:
            self._buf[row - self._nb] = vec
        return True

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        row = self.row_of.get(paper_id)
        # A refresh in another thread names a paper's row just before it writes it.
        if row is None or row >= len(self.ids):
            return None
        if row < self._nb:
            patched = self._patch.get(row)
            return (patched if patched is not None else self._base[row]).copy()
        return self._buf[row - self._nb].copy()

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest papers by cosine (vectors are unit length), best first."""
        n = len(self.ids)  # before the matrix: rows below n are written (see the module's docstring)
        if not n or k <= 0:
            return []
        q = query.astype(np.float32)
        if self._nb:
            scores = np.empty(n, np.float32)
            scores[: self._nb] = self._base @ q
            scores[self._nb:] = self._buf[: n - self._nb] @ q
            for row, vec in list(self._patch.items()):
                scores[row] = vec @ q
        else:
            scores = self._buf[:n] @ q
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[int(i)], float(scores[i])) for i in top]

    # -- snapshots (search/persist.py writes and reads the files) ---------------------------------

    def export(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The index as a snapshot's meta and arrays, consistent with ``seq``."""
        with self._lock:
            blob, ends = pack_strings(list(self.ids))
            id_blob, id_ends, rows = sorted_rows(self.row_of)
            meta = {"seq": self.seq, "rows": len(self.ids)}
            return meta, {"ids_blob": blob, "ids_ends": ends, "sorted_blob": id_blob, "sorted_ends": id_ends,
                          "sorted_rows": rows, **self._export_vectors()}

    def _export_vectors(self) -> dict[str, np.ndarray]:
        return {"matrix": self.matrix}

    def restore(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], graph: Path | None = None,
                mapped: bool = True) -> None:
        """Take a snapshot's state as this index's (the matrix is used in place, read-only; an
        HNSW graph comes from its own file, ``graph``, mapped unless ``mapped`` is False)."""
        with self._lock:
            self.ids = Ids(Strings(arrays["ids_blob"], arrays["ids_ends"]))
            self.row_of = RowOf(Strings(arrays["sorted_blob"], arrays["sorted_ends"]), arrays["sorted_rows"])
            self._restore_vectors(arrays, graph, mapped)
            self.seq = int(meta["seq"])

    def _restore_vectors(self, arrays: Mapping[str, np.ndarray], graph: Path | None = None,
                         mapped: bool = True) -> None:
        matrix = arrays["matrix"]
        if matrix.shape[1:] != (DIM,) or len(matrix) != len(self.ids):
            raise ValueError(f"matrix of shape {matrix.shape} for {len(self.ids)} ids of {DIM} dimensions")
        self._base, self._nb, self._patch = matrix, len(matrix), {}
        self._buf = np.zeros((0, DIM), dtype=np.float32)


class HnswIndex(VectorIndex):
    """Approximate search with faiss HNSW, for large corpora (setting ``vector_index = "hnsw"``).

    The graph grows as vectors arrive. HNSW cannot delete: a re-embedded paper is added again and
    its old row is skipped in results. faiss keeps the vectors itself, as float16 (half the memory
    of float32, the same neighbours), so no second copy is held. M 16, efSearch 256: recall@10
    0.99 at 1.2 ms on 100k blended real vectors (efSearch 64: 0.95; M 32 costs 1.7x the build);
    bench_search_scale measured 0.83 at a million with efSearch 128.
    """

    ADD_SLICE = 2_000  # vectors added to the graph at a time, so searches wait at most for one slice

    def __init__(self, store: Store, model: str, m: int = 16, ef_construction: int = 40, ef_search: int = 256) -> None:
        super().__init__(store, model)
        # faiss allows concurrent searches, but not a search during an add: both hold this lock.
        self._graph = threading.Lock()
        self._m, self._ef_construction, self._ef_search = m, ef_construction, ef_search
        self.index = self._new_graph()
        # Started from a snapshot's graph mapped read-only (shared, but faiss cannot add to it),
        # rows from _tail_start on go to a graph of their own, searched alongside.
        self._tail: Any = None
        self._tail_start = 0
        self.rows = Ids()   # faiss row -> paper id (stale rows included)
        self.ids = self.rows

    def _new_graph(self) -> Any:
        import faiss

        # faiss's stub types the second argument as a ScalarQuantizer; the real constructor
        # (int, ScalarQuantizer::QuantizerType, int, MetricType) takes the QT_* constant, an int.
        index = faiss.IndexHNSWSQ(
            DIM, faiss.ScalarQuantizer.QT_fp16, self._m, faiss.METRIC_INNER_PRODUCT  # type: ignore[arg-type]
        )
        index.hnsw.efConstruction = self._ef_construction
        index.hnsw.efSearch = self._ef_search
        return index

    def __len__(self) -> int:
        return len(self.row_of)

    def _append(self, ids: list[str], vectors: np.ndarray) -> None:
        start = len(self.rows)
        for i in range(0, len(ids), self.ADD_SLICE):
            with self._graph:
                target = self.index if self._tail is None else self._tail
                target.add(np.ascontiguousarray(vectors[i:i + self.ADD_SLICE], dtype=np.float32))
                self.rows.extend(ids[i:i + self.ADD_SLICE])
        for i, pid in enumerate(ids):
            self.row_of[pid] = start + i

    def _replace(self, row: int, vec: np.ndarray) -> bool:
        return False  # appended as a new row instead; the old one goes stale

    def _reserve(self, rows: int) -> None:
        pass  # faiss keeps the vectors

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        row = self.row_of.get(paper_id)
        if row is None or row >= len(self.rows):
            return None
        with self._graph:
            if self._tail is not None and row >= self._tail_start:
                return self._tail.reconstruct(row - self._tail_start)
            return self.index.reconstruct(row)

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not self.rows or k <= 0:
            return []
        q = query.astype(np.float32).reshape(1, -1)
        with self._graph:
            scores, rows = self.index.search(q, k + 8)
            found = list(zip(scores[0], rows[0], strict=True))
            if self._tail is not None and self._tail.ntotal:
                more, tail_rows = self._tail.search(q, k + 8)
                found += [(s, r + self._tail_start if r >= 0 else -1)
                          for s, r in zip(more[0], tail_rows[0], strict=True)]
                found.sort(key=lambda x: -x[0])
        out = []
        for score, row in found:
            if row < 0:
                continue
            pid = self.rows[int(row)]
            if self.row_of.get(pid) == row:
                out.append((pid, float(score)))
        return out[:k]

    def write_graph(self, path: Path) -> None:
        """The graph as a faiss index file (a snapshot's companion, mapped by web processes)."""
        import faiss

        if self._tail is not None:
            raise ValueError("a graph started from a mapped snapshot cannot be written: restore it with mapped=False")
        with self._graph:
            faiss.write_index(self.index, str(path))

    def _export_vectors(self) -> dict[str, np.ndarray]:
        return {}  # the graph goes to its own file: write_graph

    def _restore_vectors(self, arrays: Mapping[str, np.ndarray], graph: Path | None = None,
                         mapped: bool = True) -> None:
        import faiss

        if graph is None:
            raise ValueError("no graph file")
        # Mapped: the graph and its codes stay in the file's pages, shared by every process that
        # maps it. Not mapped (the worker, which adds to it and writes it again): read into memory.
        flags = faiss.IO_FLAG_MMAP_IFC if mapped else 0
        index: Any = faiss.read_index(str(graph), flags)
        if index.ntotal != len(self.ids) or index.d != DIM:
            raise ValueError(f"graph of {index.ntotal} vectors of {index.d} dimensions for {len(self.ids)} ids")
        index.hnsw.efSearch = self._ef_search
        self.index = index
        self.rows = self.ids
        self._tail, self._tail_start = (self._new_graph(), len(self.ids)) if mapped else (None, 0)


class PgVectorIndex(VectorIndex):
    """Vector search answered by PostgreSQL's pgvector HNSW index (setting ``vector_index =
    "pgvector"``): the vectors and the graph live in the database, shared by every web process on
    every machine; a process holds nothing but a count. Built and topped up by
    :func:`build_pgvector` (``papertrend index pgvector``, and the worker's ``snapshots`` job);
    vectors embedded after that reach it as they are stored (``store.vectors.save``).

    Results are cosine similarities like the in-process indexes', so the Searcher's fusion,
    filters and hidden papers treat them alike."""

    KIND = "pgvector"
    IN_PROCESS = False

    def __init__(self, store: Store, model: str, ef_search: int = 200) -> None:
        super().__init__(store, model)
        self.ef_search = ef_search
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def refresh(self, wait: bool = True, recheck_after: float = 0.0) -> int:
        """Notice vectors stored since the last look (their newest ``seq``, which keys the
        Searcher's remembered results, and how many the index holds); nothing is loaded."""
        if self._last_look.recent(recheck_after):
            return 0
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            self._last_look.now()
            top = self.store.vectors.top_seq()
            if top == self.seq:
                return 0
            before, self._count = self._count, self.store.vectors.pgvector_count(self.model)
            stored, _ = self.store.vectors.count(self.model)
            if stored > self._count:
                log.warning("pgvector index: holds %d of %d vectors; run `papertrend index pgvector` "
                            "(the worker's snapshots job does it too)", self._count, stored)
            self.seq = top
            return max(self._count - before, 0)
        finally:
            self._lock.release()

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        blob = self.store.vectors.vector_of(self.model, paper_id)
        return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        return self.store.vectors.pgvector_search(self.model, query, k, self.ef_search)

    def export(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise TypeError("the pgvector index lives in the database: it has no snapshot")

    def restore(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], graph: Path | None = None,
                mapped: bool = True) -> None:
        raise TypeError("the pgvector index lives in the database: it has no snapshot")


def build_pgvector(store: Store, model: str, stage: Callable[[str, int | None], None] | None = None,
                   advance: Callable[[int], None] | None = None, chunk: int = 2_000) -> dict[str, int]:
    """Create the pgvector table and its HNSW index and copy into it every stored vector it lacks.
    Re-runnable and resumable: each chunk commits, and a run reads only what is still missing.
    ``stage(name, total)`` and ``advance(n)`` report progress."""
    stage = stage or (lambda name, total: None)
    store.vectors.pgvector_prepare(DIM)
    missing = store.vectors.pgvector_missing(model)
    stage("pgvector: copying vectors", missing)
    added = after = 0
    # Copied before the index is built when it is new: building over the whole table at once is
    # several times faster than growing the graph row by row.
    while True:
        n, after = store.vectors.pgvector_fill(model, chunk, after)
        if not n:
            break
        added += n
        if advance is not None:
            advance(n)
    stage("pgvector: building the HNSW index", None)
    built = store.vectors.pgvector_index(PGVECTOR_M, PGVECTOR_EF_CONSTRUCTION, PGVECTOR_BUILD_MEMORY)
    return {"pgvector added": added, "pgvector built": int(built),
            "pgvector vectors": store.vectors.pgvector_count(model)}


def make_index(store: Store, model: str, kind: str) -> VectorIndex:
    if kind == "pgvector":
        if store.settings.is_sqlite:
            raise ConfigError("setting vector_index: 'pgvector' needs PostgreSQL, and database_url is SQLite; "
                              "use exact or hnsw")
        if not store.vectors.pgvector_ready():
            raise ConfigError("setting vector_index: 'pgvector', but this database has no pgvector index yet: "
                              "run `papertrend index pgvector` first")
        return PgVectorIndex(store, model, store.settings.pgvector_ef_search)
    if kind == "hnsw":
        return HnswIndex(store, model)
    if kind != "exact":
        raise ConfigError(f"setting vector_index: {kind!r} is not exact, hnsw or pgvector")
    return VectorIndex(store, model)
