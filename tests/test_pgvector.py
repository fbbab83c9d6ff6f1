"""vector_index = "pgvector": vector searches answered by PostgreSQL's pgvector HNSW index, built by
`papertrend index pgvector`, find what the in-process exact index finds; new, re-embedded and
deleted papers reach it; SQLite refuses the setting at start-up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.config import Settings
from papertrend.enrich.embed import embed_missing
from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.ingest.importer import import_paths
from papertrend.store import Store, schema
from papertrend.web.app import create_app

DAYS = ["2026-06-02", "2026-06-12", "2026-06-18", "2026-06-26", "2026-07-01"]
QUERIES = ["speculative decoding", "language model reasoning", "diffusion image generation", "robot policy learning",
           "agents that use tools", "video understanding", "how do I make inference of big models cheaper?"]
PGVECTOR = {"PAPERTREND_VECTOR_INDEX": "pgvector"}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(max_tokens=128)


@pytest.fixture
def corpus(templates, settings: Settings, shared: Path, embedder: Embedder) -> Iterator[Store]:
    if settings.is_sqlite:
        pytest.skip("pgvector lives in PostgreSQL (SQLite's refusal is tested below)")

    def build(store: Store, s: Settings, workdir: Path) -> None:
        import_paths(store, s, [shared / "hf-daily" / f"{d}.json" for d in DAYS])
        embed_missing(store, embedder, MODEL_ID)

    store = templates.copy("pgvector-corpus", settings, build)
    yield store
    store.close()


def _ids(run_cli, query: str, *args: str, env: dict[str, str] | None = None) -> list[tuple[str, float]]:
    found = json.loads(run_cli("search", query, "--json", "--limit", "20", *args, env=env).stdout)
    return [(p["id"], p["score"]) for p in found]


def test_search_with_pgvector_finds_what_the_exact_index_finds(corpus, settings, run_cli) -> None:
    # Before the index step, the setting is refused with what to do, not a half-working search.
    refused = run_cli("search", "speculative decoding", "--mode", "vector", env=PGVECTOR, ok=False)
    assert refused.exit_code == 1 and "papertrend index pgvector" in refused.output

    stored, _ = corpus.vectors.count(MODEL_ID)
    built = run_cli("index", "pgvector").output
    assert f"pgvector added {stored:,}" in built and "pgvector built 1" in built, built
    again = run_cli("index", "pgvector").output  # re-runnable: nothing left to add or build
    assert "pgvector added 0" in again and "pgvector built 0" in again and f"pgvector vectors {stored:,}" in again

    for q in QUERIES:
        exact = _ids(run_cli, q, "--mode", "vector")
        approx = _ids(run_cli, q, "--mode", "vector", env=PGVECTOR)
        # HNSW over a thousand vectors with efSearch 100 finds the true neighbours; the scores are
        # the same cosines (float32 in numpy, float in PostgreSQL).
        assert [pid for pid, _ in approx[:10]] == [pid for pid, _ in exact[:10]], q
        assert all(abs(a[1] - e[1]) < 1e-4 for a, e in zip(approx, exact, strict=True)), q
        # Hybrid fusion and filters behave alike on top of either index.
        for args in (("--mode", "hybrid"), ("--category", "cs.CV"), ("--has-code",),
                     ("--from", "2026-06-12", "--to", "2026-06-26")):
            assert [pid for pid, _ in _ids(run_cli, q, *args, env=PGVECTOR)] == \
                [pid for pid, _ in _ids(run_cli, q, *args)], (q, args)


def test_web_search_and_similar_papers_from_pgvector_hide_hidden_papers(corpus, settings: Settings, run_cli) -> None:
    run_cli("index", "pgvector")
    asked = [{"q": q, **params} for q in QUERIES[:3]
             for params in ({"mode": "vector"}, {}, {"category": "cs.CV"}, {"mode": "vector", "has_code": "1"})]

    def served(s: Settings) -> tuple[list[list[str]], list[str]]:
        app = create_app(s, corpus)
        with TestClient(app) as client:
            searcher = app.state.searcher()
            deadline = time.monotonic() + 60
            while not searcher.ready and time.monotonic() < deadline:  # the indexes load in the background
                time.sleep(0.05)
            assert type(searcher.index).__name__ == ("PgVectorIndex" if s.vector_index == "pgvector"
                                                                  else "VectorIndex")
            pages = [[p["id"] for p in client.get("/search.json", params=a).json()["papers"]] for a in asked]
            first = pages[0][0]
            similar = [p["id"] for p in client.get(f"/papers/{first}.json").json()["similar"]]
        return pages, similar

    exact_pages, exact_similar = served(settings)
    pg_pages, pg_similar = served(settings.replace(vector_index="pgvector"))
    assert pg_pages == exact_pages and sum(map(bool, exact_pages)) >= len(asked) // 2
    assert pg_similar == exact_similar and len(pg_similar) == 5

    # A paper a moderator hid leaves the results on the pgvector index as on the exact one.
    hidden = exact_pages[0][0]
    run_cli("users", "add", "mod@example.org", "--role", "moderator", "--no-link")
    run_cli("moderation", "act", "hide", "paper", hidden, "--by", "mod@example.org", "--reason", "test")
    pg_pages, _ = served(settings.replace(vector_index="pgvector"))
    exact_after, _ = served(settings)
    # (the searcher leaves hidden papers out before it pages, so the next paper moves up)
    assert hidden not in pg_pages[0] and pg_pages == exact_after
    assert pg_pages[0][:len(exact_pages[0]) - 1] == [pid for pid in exact_pages[0] if pid != hidden]


def test_new_edited_and_deleted_papers_reach_the_pgvector_index(corpus, settings, run_cli, tmp_path: Path) -> None:
    run_cli("index", "pgvector")
    new = tmp_path / "2026-07-02.jsonl"
    new.write_text(json.dumps({"id": "2607.99999", "categories": ["cs.CL"], "authors": ["Zed"],
                               "title": "Beekeeping schedules learned from hive acoustics",
                               "summary": "Microphones in beehives tell a model when a colony is about to swarm, "
                                          "so beekeepers can split hives in time."}) + "\n")
    run_cli("import", str(new), env={"PAPERTREND_EMBED_ON_IMPORT": "true"})  # embeds as it imports
    found = _ids(run_cli, "predicting honey bee swarming from sound", "--mode", "vector", env=PGVECTOR)
    assert found[0][0] == "2607.99999", found[:3]

    # Re-embedded with new text (`papertrend embed` after a correction): the new vector replaces
    # the old one; a deleted paper leaves.
    some = corpus.papers.in_range("2026-06-12", "2026-06-12")
    edited, deleted = some[0], some[1]
    with corpus.write() as conn:
        conn.execute(schema.papers.update().where(schema.papers.c.id == edited.id).values(
            title="Sourdough starter fermentation kinetics",
            abstract="How wild yeast and lactobacilli in a sourdough starter make bread rise."))
        conn.execute(schema.papers.delete().where(schema.papers.c.id == deleted.id))
    run_cli("embed")
    bread = _ids(run_cli, "baking bread with a sourdough starter", "--mode", "vector", env=PGVECTOR)
    assert bread[0][0] == edited.id
    assert deleted.id not in [pid for pid, _ in _ids(run_cli, deleted.title, "--mode", "vector", env=PGVECTOR)]
    stored, _ = corpus.vectors.count(MODEL_ID)
    assert corpus.vectors.pgvector_count(MODEL_ID) == stored
    assert "pgvector added 0" in run_cli("index", "pgvector").output  # nothing was left behind


def test_the_index_step_resumes_where_it_stopped(corpus, settings, run_cli) -> None:
    from papertrend.search.vectors import build_pgvector

    stored, _ = corpus.vectors.count(MODEL_ID)

    class Stop(Exception):
        pass

    def stop_after_first_chunk(n: int) -> None:
        raise Stop  # as if the process were interrupted after its first committed chunk

    with pytest.raises(Stop):
        build_pgvector(corpus, MODEL_ID, advance=stop_after_first_chunk, chunk=100)
    assert corpus.vectors.pgvector_missing(MODEL_ID) == stored - 100
    done = run_cli("index", "pgvector").output
    assert f"pgvector added {stored - 100:,}" in done and f"pgvector vectors {stored:,}" in done


def test_the_worker_job_tops_up_the_pgvector_index(corpus, settings: Settings, embedder, tmp_path: Path) -> None:
    from papertrend.jobs import JOBS

    pg = settings.replace(vector_index="pgvector")
    spec = next(j for j in JOBS if j.name == "snapshots")
    counts = spec.run(corpus, pg, None)  # type: ignore[arg-type]
    stored, _ = corpus.vectors.count(MODEL_ID)
    assert counts["pgvector added"] == stored and "vectors bytes" not in counts  # no vector snapshot
    assert spec.run(corpus, pg, None)["pgvector added"] == 0  # type: ignore[arg-type]


def test_sqlite_refuses_the_pgvector_setting_at_start_up(settings: Settings, run_cli) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite only")
    for args in (("search", "speculative decoding"), ("serve",), ("index", "pgvector"), ("db", "upgrade")):
        refused = run_cli(*args, env=PGVECTOR, ok=False)
        assert refused.exit_code == 1, args
        assert "vector_index" in refused.output and "needs PostgreSQL" in refused.output, refused.output
    # Without the setting, the index step still says why it cannot run here.
    refused = run_cli("index", "pgvector", ok=False)
    assert refused.exit_code == 1 and "pgvector needs PostgreSQL" in refused.output, refused.output
