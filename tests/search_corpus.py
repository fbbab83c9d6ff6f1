"""The search tests' corpus: seven real Hugging Face days with embeddings, a hostile paper and a
real arXiv entry with LaTeX, built once per session and copied for each test (a pytest plugin:
test modules name it in ``pytest_plugins``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.config import Settings
from papertrend.enrich.embed import embed_missing
from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.ingest.importer import import_paths
from papertrend.store import Store
from papertrend.web.app import create_app
from search_papers import DAYS, LATEX_PAPER

@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(max_tokens=128)


def _build_corpus(shared: Path, embedder: Embedder) -> Callable[[Store, Settings, Path], None]:
    def build(store: Store, settings: Settings, workdir: Path) -> None:
        hostile = workdir / "2026-07-31.jsonl"
        hostile.write_text(json.dumps({
            "id": "2607.00003", "categories": ["cs.CR"], "authors": ["Eve"],
            "title": "Decoding <script>alert(1)</script> attacks",
            "summary": "We study <img src=x onerror=alert(2)> decoding of hostile payloads in pages."}) + "\n"
            # a real listing entry with LaTeX in its title and abstract
            + next(line for line in (shared / "arxiv-listings" / "2026-06-16.jsonl").read_text().splitlines()
                   if LATEX_PAPER in line) + "\n")
        import_paths(store, settings, [shared / "hf-daily" / f"{d}.json" for d in DAYS] + [hostile])
        embed_missing(store, embedder, MODEL_ID)
    return build


@pytest.fixture
def corpus(templates, settings, shared: Path, embedder: Embedder) -> Iterator[Store]:
    # Embedding ~200 papers takes seconds: done once per session, copied for each test.
    store = templates.copy("search-corpus", settings, _build_corpus(shared, embedder))
    yield store
    store.close()


@pytest.fixture
def client(corpus, settings) -> TestClient:
    return TestClient(create_app(settings, corpus))


