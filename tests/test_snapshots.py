"""Index snapshots: written by `papertrend index snapshot` (or the worker's job), started from by web
processes, topped up from the change log; a damaged one is noticed and rebuilt, never believed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from papertrend.config import Settings
from papertrend.enrich.embed import embed_missing
from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.ingest.importer import import_paths
from papertrend.jobs import JOBS, snapshot_indexes
from papertrend.models import SearchFilters
from papertrend.search import persist, snapshot
from papertrend.search.hybrid import Fusion, Searcher
from papertrend.search.lexical import LexicalIndex
from papertrend.search.persist import fulltext_path, load_fulltext, load_vectors, restore_indexes, vectors_path
from papertrend.search.snapshot import database_identity
from papertrend.search.vectors import HnswIndex, VectorIndex, make_index
from papertrend.store import Store, schema
from papertrend.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DAYS = ["2026-06-02", "2026-06-12", "2026-06-18", "2026-06-26", "2026-07-01"]
QUERIES = ["speculative decoding", "language model reasoning", "diffusion image generation", "zanzibar",
           "\"large language\"", "robot policy learning", "agents", "video"]
FILTERS = [SearchFilters(), SearchFilters(category="cs.CV"), SearchFilters(has_code=True),
           SearchFilters(date_from="2026-06-12", date_to="2026-06-26")]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(max_tokens=128)


@pytest.fixture
def corpus(templates, settings: Settings, shared: Path, embedder: Embedder) -> Iterator[Store]:
    def build(store: Store, s: Settings, workdir: Path) -> None:
        import_paths(store, s, [shared / "hf-daily" / f"{d}.json" for d in DAYS])
        embed_missing(store, embedder, MODEL_ID)

    store = templates.copy("snapshot-corpus", settings, build)
    yield store
    store.close()


def _folder(settings: Settings) -> Path:
    return settings.snapshot_path


def _db(settings: Settings) -> str:
    return database_identity(str(settings.database_url))


def _searcher(store: Store, lexical: LexicalIndex, vectors: VectorIndex, embedder: Embedder) -> Searcher:
    return Searcher(store, embedder.embed_query, vectors, Fusion(), lexical)


def _results(searcher: Searcher,
             modes: tuple[str, ...] = ("hybrid", "fulltext", "vector")) -> list[list[tuple[str, float]]]:
    out = []
    for q in QUERIES:
        for filters in FILTERS:
            for mode in modes:
                hits = searcher.search(q, filters, mode=mode, limit=20).hits
                out.append([(h.paper.id, round(h.score, 6)) for h in hits])
    return out


def _fresh(store: Store, kind: str = "exact") -> tuple[LexicalIndex, VectorIndex]:
    lexical, vectors = LexicalIndex(store), make_index(store, MODEL_ID, kind)
    lexical.refresh()
    vectors.refresh()
    return lexical, vectors


def _restored(store: Store, settings: Settings, kind: str = "exact",
              top_up: bool = True) -> tuple[LexicalIndex, VectorIndex]:
    """Indexes started from the snapshots, then (``top_up``) refreshed as a web process does."""
    lexical, vectors = LexicalIndex(store), make_index(store, MODEL_ID, kind)
    assert load_fulltext(lexical, _folder(settings), _db(settings))
    assert load_vectors(vectors, _folder(settings), _db(settings))
    if top_up:
        lexical.refresh()
        vectors.refresh()
        assert lexical.ready
    return lexical, vectors


def _add_papers(store: Store, settings: Settings, tmp_path: Path, embedder: Embedder) -> None:
    """A new paper, an edited one and a deleted one, with their vectors."""
    f = tmp_path / "2026-07-02.jsonl"
    f.write_text(json.dumps({"id": "2607.99999", "categories": ["cs.CL"], "authors": ["Zed"],
                             "title": "Zanzibar speculative decoding for language models",
                             "summary": "A zanzibar drafter makes speculative decoding faster."}) + "\n")
    import_paths(store, settings, [f])
    some = store.papers.in_range("2026-06-12", "2026-06-12")
    edited, deleted = some[0], some[1]
    g = tmp_path / "edit.jsonl"
    g.write_text(json.dumps({"id": edited.id, "categories": edited.categories, "authors": ["A"],
                             "title": "Zanzibar agents rewritten", "summary": "Entirely new zanzibar text."}) + "\n")
    import_paths(store, settings, [g])
    with store.write() as conn:
        conn.execute(schema.papers.delete().where(schema.papers.c.id == deleted.id))
    embed_missing(store, embedder, MODEL_ID)


def test_cli_writes_snapshots_that_rank_exactly_like_a_fresh_build(corpus, settings, run_cli, embedder) -> None:
    result = run_cli("index", "snapshot")
    assert "fulltext papers" in result.output and "vectors papers" in result.output
    assert fulltext_path(_folder(settings)).exists()
    if settings.sqlite_path is not None:   # PostgreSQL has no file to put them beside: conftest names a folder
        assert _folder(settings) == settings.sqlite_path.parent / "snapshots"
    fresh = _searcher(corpus, *_fresh(corpus), embedder)
    restored_lexical, restored_vectors = _restored(corpus, settings)
    # Restored indexes are the file's arrays, not copies.
    assert not restored_vectors._base.flags.writeable and len(restored_vectors) == corpus.vectors.count(MODEL_ID)[0]
    restored = _searcher(corpus, restored_lexical, restored_vectors, embedder)
    assert len(restored_lexical) == corpus.papers.count()
    got, want = _results(restored), _results(fresh)
    assert got == want and sum(map(len, want)) > 200
    # Re-running writes nothing new (nothing changed) and the file stays valid.
    before = fulltext_path(_folder(settings)).stat().st_mtime_ns
    again = run_cli("index", "snapshot").output
    assert "fulltext changes 0" in again and "fulltext bytes" not in again
    assert fulltext_path(_folder(settings)).stat().st_mtime_ns == before


def test_hnsw_snapshot_maps_the_graph_it_saved_and_tops_up(corpus, settings, run_cli, tmp_path: Path,
                                                           embedder) -> None:
    hnsw = {"PAPERTREND_VECTOR_INDEX": "hnsw"}
    run_cli("index", "snapshot", env=hnsw)
    graphs = list(_folder(settings).glob("*.graph"))
    assert len(graphs) == 1
    saved = HnswIndex(corpus, MODEL_ID)
    assert load_vectors(saved, _folder(settings), _db(settings), mapped=False)  # as the worker reads it
    restored = HnswIndex(corpus, MODEL_ID)
    assert load_vectors(restored, _folder(settings), _db(settings))
    assert any(line.rstrip().endswith(graphs[0].name)  # mapped, not copied
               for line in Path("/proc/self/maps").read_text().splitlines())
    assert len(restored) == len(saved) == corpus.vectors.count(MODEL_ID)[0]
    queries = [saved.vector_of(saved.ids[i]) for i in range(0, len(saved.ids), 37)]
    for q in queries:
        assert q is not None
        assert restored.search(q, 10) == saved.search(q, 10)
    # Vectors stored after the snapshot go to a graph of the process's own, searched alongside.
    _add_papers(corpus, settings, tmp_path, embedder)
    assert restored.refresh() >= 1
    new = restored.vector_of("2607.99999")
    assert new is not None and restored.search(new, 3)[0][0] == "2607.99999"
    exact = VectorIndex(corpus, MODEL_ID)
    exact.refresh()
    for q in queries:
        assert q is not None
        found = {pid for pid, _ in restored.search(q, 10)}
        assert len(found & {pid for pid, _ in exact.search(q, 10)}) >= 9
    # The next snapshot replaces the graph file; the one this process mapped stays readable.
    assert "vectors bytes" in run_cli("index", "snapshot", env=hnsw).output
    assert [g.name for g in _folder(settings).glob("*.graph")] != [graphs[0].name]
    assert restored.search(new, 3)[0][0] == "2607.99999"
    again = HnswIndex(corpus, MODEL_ID)
    assert load_vectors(again, _folder(settings), _db(settings)) and len(again) == corpus.vectors.count(MODEL_ID)[0]


def test_changes_after_the_snapshot_are_topped_up(corpus, settings, run_cli, tmp_path: Path, embedder,
                                                  monkeypatch) -> None:
    run_cli("index", "snapshot")
    # A web process that has followed every change as it happened...
    live_lexical, live_vectors = _fresh(corpus)
    _add_papers(corpus, settings, tmp_path, embedder)
    live_lexical.refresh()
    live_vectors.refresh()
    # ...and one started now from the snapshot made before them, then topped up.
    lexical, vectors = _restored(corpus, settings, top_up=False)
    changes = corpus.search.text_log_top() - lexical.seq
    assert changes >= 2 and lexical.refresh() == changes and vectors.refresh() >= 1
    assert lexical.seq == live_lexical.seq and len(lexical) == len(live_lexical) == corpus.papers.count()
    restored = _searcher(corpus, lexical, vectors, embedder)
    assert _results(restored) == _results(_searcher(corpus, live_lexical, live_vectors, embedder))
    zanzibar = [h.paper.id for h in restored.search("zanzibar", mode="fulltext").hits]
    assert "2607.99999" in zanzibar
    assert vectors.vector_of("2607.99999") is not None
    # A snapshot written now covers the changes, topped up as the running index was...
    with monkeypatch.context() as m:
        m.setattr(persist, "REBUILD_SHARE", 1.0)
        counts = snapshot_indexes(corpus, settings)
    assert counts["fulltext changes"] == changes and "fulltext built afresh" not in counts
    assert _results(_searcher(corpus, *_restored(corpus, settings), embedder), ("fulltext",)) == \
        _results(restored, ("fulltext",))
    # (A paper was deleted: an index never drops a vector, so the vector snapshot is built afresh.)
    assert counts["vectors built afresh"] == 1
    # ...and built afresh (once the changes pass a share of the papers, or when asked), when it
    # ranks exactly as a fresh build does.
    assert "fulltext built afresh" in run_cli("index", "snapshot", "--rebuild").output
    fresh = _searcher(corpus, *_fresh(corpus), embedder)
    assert _results(_searcher(corpus, *_restored(corpus, settings), embedder)) == _results(fresh)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "format", "model", "empty", "other database"])
def test_a_damaged_or_foreign_snapshot_is_noticed_and_rebuilt(corpus, settings, run_cli, damage: str,
                                                              caplog, embedder) -> None:
    run_cli("index", "snapshot")
    folder = _folder(settings)
    vec_path = vectors_path(folder, VectorIndex(corpus, MODEL_ID))
    path = fulltext_path(folder) if damage != "model" else vec_path
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) * 2 // 3] ^= 0x40
        path.write_bytes(bytes(data))
        reason = "checksum does not match"
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) - 1000]))
        reason = "truncated"
    elif damage == "format":
        data[8] = snapshot.FORMAT + 1
        path.write_bytes(bytes(data))
        reason = f"format {snapshot.FORMAT + 1}"
    elif damage == "empty":
        path.write_bytes(b"")
        reason = "truncated"
    else:
        found = snapshot.read(path, "vectors" if damage == "model" else "fulltext")
        meta = dict(found.meta)
        if damage == "model":
            meta["model_sha256"] = "0" * 64  # made with another model: its vectors mean other things
            reason = "made for model_sha256"
        else:
            meta["database"] = "sqlite:////elsewhere/papers.db"
            reason = "made for database"
        snapshot.write(path, found.kind, meta, {k: np.array(v) for k, v in found.arrays.items()})
    caplog.clear()
    caplog.set_level(logging.INFO, "papertrend.snapshot")
    # A web process starts, says why it builds from the store, and answers as a fresh build does.
    app = create_app(settings, corpus)
    with TestClient(app) as client:
        searcher = app.state.searcher()
        assert _wait(lambda: searcher.ready)
        assert any(reason in r.getMessage() and "building from the store" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
        got = client.get("/search.json", params={"q": "speculative decoding", "mode": "fulltext"}).json()
        fresh = _searcher(corpus, *_fresh(corpus), embedder)
        assert [p["id"] for p in got["papers"]] == \
            [h.paper.id for h in fresh.search("speculative decoding", mode="fulltext").hits]
    # The next snapshot run replaces the damaged file with a good one.
    run_cli("index", "snapshot")
    _restored(corpus, settings)


def _wait(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_web_process_restarts_from_the_snapshot(corpus, settings, run_cli, caplog, embedder) -> None:
    run_cli("index", "snapshot")
    caplog.clear()
    caplog.set_level(logging.INFO, "papertrend.snapshot")
    app = create_app(settings, corpus)
    with TestClient(app) as client:
        searcher = app.state.searcher()
        assert _wait(lambda: searcher.ready)
        started = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("full-text index: ") and "fulltext.snap" in m for m in started), started
        assert any(m.startswith("vector index: ") and ".snap" in m for m in started), started
        assert not any("not used" in m for m in started), started
        assert searcher.lexical.seq > 0 and searcher.index._nb == len(searcher.index)  # mapped, not rebuilt
        asked = [{"q": q, **params} for q in ("speculative decoding", "language model agents")
                 for params in ({}, {"category": "cs.CV"}, {"has_code": "1", "mode": "fulltext"})]
        served = [[p["id"] for p in client.get("/search.json", params=a).json()["papers"]] for a in asked]
        # The same requests answered by indexes built from the store in this process.
        searcher.lexical, searcher.index = _fresh(corpus)
        searcher._recent.clear()
        assert served == [[p["id"] for p in client.get("/search.json", params=a).json()["papers"]] for a in asked]
        assert len(served[0]) >= 10 and served[2] and served[3]


def test_the_worker_job_writes_snapshots_when_indexes_change(corpus, settings, tmp_path: Path, embedder) -> None:
    spec = next(j for j in JOBS if j.name == "snapshots")
    assert spec.cron(settings) == settings.schedule_snapshots
    first = spec.run(corpus, settings, None)  # type: ignore[arg-type]
    assert first["fulltext papers"] == corpus.papers.count() and first["fulltext bytes"] > 0
    assert "fulltext bytes" not in spec.run(corpus, settings, None)  # type: ignore[arg-type]
    _add_papers(corpus, settings, tmp_path, embedder)
    third = spec.run(corpus, settings, None)  # type: ignore[arg-type]
    assert third["fulltext changes"] >= 2 and third["vectors changes"] >= 1 and "vectors bytes" in third
    lexical, _ = _restored(corpus, settings)
    assert lexical.seq == corpus.search.text_log_top()


PROBE = r"""
import json, os, sys
from papertrend.config import load_settings
from papertrend.store import open_store
from papertrend.search.hybrid import build_searcher
settings = load_settings(environ=os.environ, database_url=sys.argv[1])  # the secret, where snapshots are
searcher = build_searcher(settings, open_store(settings))
searcher.restore()
searcher.lexical.refresh(); searcher.index.refresh()
ids = [h.paper.id for h in searcher.search("speculative decoding", mode="fulltext").hits]
vec = [pid for pid, _ in searcher.index.search(searcher.index.vector_of(ids[0]), 10)]
def shared_kib(name):
    out, inside = 0, False
    for line in open("/proc/self/smaps"):
        if line[0] in "0123456789abcdef" and " " in line:
            inside = line.rstrip().endswith(name)
        elif inside and line.startswith("Shared_Clean:"):
            out += int(line.split()[1])
    return out
print(json.dumps({"ids": ids, "vec": vec, "mapped": [n for n in ("fulltext.snap", "onnx-int8.snap")
      if any(l.rstrip().endswith(n) for l in open("/proc/self/maps"))],
      "shared": {n: shared_kib(n) for n in ("fulltext.snap", "onnx-int8.snap")}}), flush=True)
sys.stdin.readline()  # hold the mapping while the other process looks
"""


def test_two_processes_map_one_snapshot(corpus, settings, run_cli, embedder) -> None:
    run_cli("index", "snapshot")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    procs = []
    try:
        outputs = []
        for _ in range(2):
            p = subprocess.Popen([sys.executable, "-c", PROBE, str(settings.database_url)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
            procs.append(p)
            assert p.stdout is not None
            outputs.append(json.loads(p.stdout.readline()))
        first, second = outputs
        fresh = _searcher(corpus, *_fresh(corpus), embedder)
        assert first["ids"] == second["ids"] == [h.paper.id for h in fresh.search("speculative decoding",
                                                                               mode="fulltext").hits]
        assert first["vec"] == second["vec"] and first["vec"][0] == first["ids"][0]
        assert first["mapped"] == second["mapped"] == ["fulltext.snap", "onnx-int8.snap"]
        # The second process finds the pages the first one mapped: shared, not its own copy.
        assert second["shared"]["fulltext.snap"] > 0 and second["shared"]["onnx-int8.snap"] > 0
    finally:
        for p in procs:
            if p.stdin is not None:
                p.stdin.close()
            p.wait(timeout=30)
            if p.stdout is not None:
                p.stdout.close()


def test_a_running_index_moves_to_the_newer_snapshot(corpus, settings, run_cli, tmp_path: Path, embedder) -> None:
    run_cli("index", "snapshot")
    lexical, vectors = LexicalIndex(corpus), VectorIndex(corpus, MODEL_ID)
    follower = restore_indexes(_folder(settings), _db(settings), lexical, vectors, follow=0)
    assert follower is not None and not follower.check()  # nothing newer yet
    lexical.refresh()
    _add_papers(corpus, settings, tmp_path, embedder)
    lexical.refresh()  # topped up: a new term's list is this process's own...
    postings = lexical._state.postings
    assert "zanzibar" in postings._own
    # ...but a term the snapshot has keeps its shared mapped list: only the new papers are this
    # process's (copying a frequent term's list on every top-up made each worker hold its own copy).
    decoding = lexical.terms(["decoding"])[0]
    assert decoding not in postings._own and 1 <= len(postings._tail[decoding][0]) <= 2
    run_cli("index", "snapshot", "--rebuild")
    assert follower.check() and lexical.snapshot_seq == corpus.search.text_log_top()
    assert not lexical._state.postings._own and not lexical._state.postings._tail  # the new file's again
    fresh_lexical, fresh_vectors = _fresh(corpus)
    vectors.refresh()
    assert _results(_searcher(corpus, lexical, vectors, embedder), ("fulltext",)) == \
        _results(_searcher(corpus, fresh_lexical, fresh_vectors, embedder), ("fulltext",))


def test_a_snapshot_folder_that_cannot_be_written_is_a_clear_error(store, run_cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("index", "snapshot", ok=False, env={"PAPERTREND_SNAPSHOT_DIR": str(blocker / "snapshots")})
    assert result.exit_code == 1
    assert f"{blocker / 'snapshots' / 'fulltext.snap'}: cannot write the snapshot" in result.output
    assert "Traceback" not in result.output
    # An empty database gives empty snapshots that load.
    assert "fulltext papers 0" in run_cli("index", "snapshot").output
