"""The search indexes' snapshots: where they live, writing them, and starting an index from one.

The worker writes a snapshot of the full-text index and of the vector index after changes
(:func:`write_snapshots`, the ``snapshots`` job and ``papertrend index snapshot``); a web process
starts each index from its snapshot (:func:`restore_indexes`), then tops it up from the store's
change log as it would after any refresh. A snapshot that cannot be used (missing, truncated,
corrupt, of another format, model, database or settings, or ahead of the store) is logged with
the reason and the index is built from the store instead: slower, never wrong.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import Store
from . import snapshot
from .lexical import LexicalIndex
from .snapshot import SnapshotError
from .vectors import HnswIndex, VectorIndex

log = logging.getLogger("papertrend.snapshot")

FULLTEXT, VECTORS = "fulltext", "vectors"
# Papers added to a snapshot since it was last built from scratch, as a share of its papers,
# past which the job builds afresh: an index topped up keeps each paper's bm25 length
# normalisation from when it arrived, which drifts slowly from a fresh build as the corpus grows.
REBUILD_SHARE = 0.1
FOLLOW_SECONDS = 60.0  # how often a web process looks for a newer full-text snapshot


def fulltext_path(folder: Path) -> Path:
    return folder / "fulltext.snap"


def vectors_path(folder: Path, index: VectorIndex) -> Path:
    return folder / f"vectors-{index.KIND}-{index.model}.snap"


def _vector_fingerprint(index: VectorIndex) -> dict[str, Any]:
    from ..enrich.embeddings import DIM, MODEL_SHA256

    return {"model": index.model, "model_sha256": MODEL_SHA256, "dim": DIM, "index_kind": index.KIND}


def _check_fulltext_log(store: Store, meta: dict[str, Any]) -> None:
    """The change the snapshot ends at must be in this store's log, for the same paper: else the
    snapshot is of another database (or the database was restored from an older backup)."""
    seq = int(meta["seq"])
    if seq <= 0:
        return
    rows = store.search.text_changes_after(seq - 1, 1)
    if not rows or rows[0][0] != seq or rows[0][1] != meta.get("last_rowid"):
        raise SnapshotError(f"covers text changes up to {seq}, which this database's change log does not hold "
                            f"(top {store.search.text_log_top()})")


def _check_vector_log(store: Store, index: VectorIndex, meta: dict[str, Any]) -> None:
    seq = int(meta["seq"])
    if seq <= 0:
        return
    _, top = store.vectors.count(index.model)
    rows = store.vectors.after(index.model, seq - 1, 1)
    # A vector re-embedded since has a newer seq: then the row at ``seq`` is gone, which is fine.
    if top < seq or (rows and rows[0][0] == seq and rows[0][1] != meta.get("last_id")):
        raise SnapshotError(f"covers vectors up to {seq}, which this database does not hold (top {top})")


def load_fulltext(index: LexicalIndex, folder: Path, database: str, verify: bool = True) -> bool:
    """Start ``index`` from its snapshot; False (and a log line saying why) when there is none
    usable, and the index is then left empty for a build from the store."""
    path = fulltext_path(folder)
    try:
        found = snapshot.read(path, FULLTEXT, verify)
        snapshot.expect(found, database=database, **index.fingerprint())
        _check_fulltext_log(index.store, found.meta)
        index.restore(found.meta, found.arrays)
    except SnapshotError as e:
        log.warning("full-text index: snapshot not used (%s); building from the store", e)
        return False
    except (KeyError, TypeError, ValueError) as e:
        log.warning("full-text index: snapshot %s not used (malformed: %s); building from the store", path, e)
        return False
    log.info("full-text index: %d papers from %s (text changes up to %d)", len(index), path, index.seq)
    return True


def load_vectors(index: VectorIndex, folder: Path, database: str, verify: bool = True, mapped: bool = True) -> bool:
    """Start ``index`` from its snapshot; False (and a log line saying why) when there is none
    usable. ``mapped``: an HNSW graph stays in its file's shared pages (else it is read into
    memory, for a process that adds to it and writes it again)."""
    path = vectors_path(folder, index)
    try:
        found = snapshot.read(path, VECTORS, verify)
        snapshot.expect(found, database=database, **_vector_fingerprint(index))
        _check_vector_log(index.store, index, found.meta)
        graph = None
        if found.meta.get("graph_file"):
            graph = folder / Path(str(found.meta["graph_file"])).name
            size, crc = snapshot.file_checksum(graph) if verify else (graph.stat().st_size, found.meta["graph_crc32"])
            if (size, crc) != (found.meta["graph_size"], found.meta["graph_crc32"]):
                raise SnapshotError(f"{graph}: does not match its snapshot (truncated or corrupt)")
        index.restore(found.meta, found.arrays, graph, mapped)
    except SnapshotError as e:
        log.warning("vector index: snapshot not used (%s); building from the store", e)
        return False
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as e:  # faiss raises RuntimeError
        log.warning("vector index: snapshot %s not used (malformed: %s); building from the store", path, e)
        return False
    log.info("vector index: %d papers from %s (vectors up to %d)", len(index), path, index.seq)
    return True


def restore_indexes(folder: Path, database: str, lexical: LexicalIndex | None, vectors: VectorIndex | None,
                    follow: float = FOLLOW_SECONDS) -> FulltextFollower | None:
    """What a web process does first: each index from its snapshot where one is usable; then
    (``follow`` seconds > 0) a thread that moves the full-text index to each newer snapshot."""
    if vectors is not None and vectors.IN_PROCESS:
        load_vectors(vectors, folder, database)
    if lexical is None:
        return None
    load_fulltext(lexical, folder, database)
    follower = FulltextFollower(lexical, folder, database)
    if follow > 0:
        follower.start(follow)
    return follower


class FulltextFollower:
    """Moves a running full-text index onto each newer snapshot the worker writes.

    Top-ups copy the posting lists of the terms they touch into the process (a list grows by
    concatenation), so over days of changes a process would hold more and more of the index
    privately. Taking the newer snapshot (a swap under the refresh lock, then a top-up of what
    it lacks) gives those pages back to the shared copy. Vectors need no such move: their
    top-ups only append the new rows."""

    def __init__(self, index: LexicalIndex, folder: Path, database: str) -> None:
        self._index = weakref.ref(index)
        self.folder, self.database = folder, database
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = fulltext_path(self.folder).stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def check(self) -> bool:
        """Take the snapshot if a newer one was written since the last look; True if taken."""
        index = self._index()
        stamp = self._stamp()
        if index is None or stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        candidate = LexicalIndex(index.store, index.weights, index.analyzer)
        if not load_fulltext(candidate, self.folder, self.database) or candidate.seq <= index.snapshot_seq:
            return False
        meta, arrays = candidate.snapshot_state()
        index.restore(meta, arrays)
        index.refresh()
        return True

    def start(self, every: float) -> threading.Thread:
        def loop() -> None:
            while self._index() is not None:
                time.sleep(every)
                try:
                    self.check()
                except Exception:  # a bad moment (a file half-copied by hand): the next look retries
                    log.exception("full-text index: could not take the newer snapshot")

        thread = threading.Thread(target=loop, name="papertrend-snapshot-follower", daemon=True)
        thread.start()
        return thread


Exported = tuple[dict[str, Any], dict[str, Any]]


def save_fulltext(index: LexicalIndex, folder: Path, database: str, built: int, topped_up: int,
                  progress: Callable[[int], None] | None = None, exported: Exported | None = None) -> int:
    """Write ``index``'s snapshot (``exported``: its ``export()``, when taken already); returns its
    size in bytes."""
    meta, arrays = exported or index.export()
    rows = index.store.search.text_changes_after(meta["seq"] - 1, 1) if meta["seq"] else []
    meta.update(database=database, last_rowid=rows[0][1] if rows and rows[0][0] == meta["seq"] else None,
                built_docs=built, topped_up=topped_up, written=time.time())
    return snapshot.write(fulltext_path(folder), FULLTEXT, meta, arrays, progress)


def save_vectors(index: VectorIndex, folder: Path, database: str,
                 progress: Callable[[int], None] | None = None, exported: Exported | None = None) -> int:
    """Write ``index``'s snapshot; returns its size in bytes."""
    meta, arrays = exported or index.export()
    rows = index.store.vectors.after(index.model, meta["seq"] - 1, 1) if meta["seq"] else []
    meta.update(database=database, last_id=rows[0][1] if rows and rows[0][0] == meta["seq"] else None,
                written=time.time(), **_vector_fingerprint(index))
    path = vectors_path(folder, index)
    graph = None
    if isinstance(index, HnswIndex):
        # The graph goes to a file of its own (faiss maps only whole files), under a new name
        # each time: a process that read the previous snapshot's header still finds its graph.
        folder.mkdir(parents=True, exist_ok=True)
        graph = folder / f"{path.stem}.{meta['seq']}-{os.getpid()}-{int(time.time() * 1000)}.graph"
        try:
            index.write_graph(graph)
        except (OSError, RuntimeError) as e:
            graph.unlink(missing_ok=True)
            raise SnapshotError(f"{graph}: cannot write the graph ({e})") from None
        size, crc = snapshot.file_checksum(graph)
        meta.update(graph_file=graph.name, graph_size=size, graph_crc32=crc)
    try:
        written = snapshot.write(path, VECTORS, meta, arrays, progress)
    except BaseException:
        if graph is not None:
            graph.unlink(missing_ok=True)
        raise
    for old in folder.glob(f"{path.stem}.*.graph"):
        if old != graph:  # a process that mapped it keeps its pages until it lets go
            old.unlink(missing_ok=True)
    return written + (graph.stat().st_size if graph is not None else 0)


@dataclass
class SnapshotProgress:
    """How a caller watches :func:`write_snapshots`: each stage's name and total (None when not
    known in advance), then how much of it is done."""

    stage: Callable[[str, int | None], None] | None = None
    advance: Callable[[int], None] | None = None

    def start(self, name: str, total: int | None = None) -> None:
        if self.stage is not None:
            self.stage(name, total)


def write_snapshots(store: Store, folder: Path, database: str, lexical: LexicalIndex, vectors: VectorIndex | None,
                    force: bool = False, progress: SnapshotProgress | None = None,
                    rebuild: bool = False) -> dict[str, Any]:
    """Bring each index's snapshot up to date with the store; re-runnable, and it writes a file
    only when its index changed (or ``force``). Each index starts from its own snapshot and reads
    only the changes since, except past :data:`REBUILD_SHARE` of papers changed by top-ups (or with
    ``rebuild``), when the full-text index is built afresh. ``lexical`` and ``vectors`` are new,
    empty indexes."""
    progress = progress or SnapshotProgress()
    counts: dict[str, Any] = {}

    progress.start("full text: snapshot", None)
    loaded = load_fulltext(lexical, folder, database)
    previous = lexical.snapshot_state()[0] if loaded else {}
    built, topped_up = int(previous.get("built_docs", 0)), int(previous.get("topped_up", 0))
    progress.start("full text: changes", max(0, store.search.text_log_top() - lexical.seq))
    changed = lexical.refresh(progress=progress.advance)
    if loaded and (rebuild or topped_up + changed > REBUILD_SHARE * max(built, 1)):
        log.info("full-text index: %d changes since its last full build of %d papers; building afresh",
                 topped_up + changed, built)
        lexical = LexicalIndex(store, lexical.weights, lexical.analyzer)
        progress.start("full text: building afresh", store.search.text_log_top())
        changed, loaded = lexical.refresh(progress=progress.advance), False
        counts["fulltext built afresh"] = 1
    if not loaded:
        built, topped_up = len(lexical), 0
    else:
        topped_up += changed
    counts["fulltext changes"] = changed
    if force or rebuild or changed or not loaded:
        exported = lexical.export()
        progress.start("full text: writing", sum(int(a.nbytes) for a in exported[1].values()))
        counts["fulltext bytes"] = save_fulltext(lexical, folder, database, built, topped_up, progress.advance,
                                                 exported)
    counts["fulltext papers"] = len(lexical)

    if vectors is not None:
        progress.start("vectors: snapshot", None)
        loaded = not rebuild and load_vectors(vectors, folder, database, mapped=False)
        progress.start("vectors: changes", None)
        arrived = vectors.refresh()
        # An index never drops a row (a paper deleted keeps its vector until a build): when the
        # store holds fewer vectors than the index, the snapshot is built afresh.
        if loaded and store.vectors.count(vectors.model)[0] != len(vectors):
            log.info("vector index: %d vectors in the index, %d in the store; building afresh",
                     len(vectors), store.vectors.count(vectors.model)[0])
            vectors = type(vectors)(store, vectors.model)
            progress.start("vectors: building afresh", None)
            arrived, loaded = vectors.refresh(), False
            counts["vectors built afresh"] = 1
        counts["vectors changes"] = arrived
        if force or arrived or not loaded:
            exported = vectors.export()
            progress.start("vectors: writing", sum(int(a.nbytes) for a in exported[1].values()))
            counts["vectors bytes"] = save_vectors(vectors, folder, database, progress.advance, exported)
        counts["vectors papers"] = len(vectors)
    return counts
