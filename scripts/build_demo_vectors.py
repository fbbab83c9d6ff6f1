"""Precompute the demo corpus's embeddings into src/papertrend/demo/vectors.npz, so that
`make demo` starts in seconds instead of minutes. Re-run after changing the demo corpus or
the embedding settings:  .venv/bin/python scripts/build_demo_vectors.py
"""

from __future__ import annotations

import tempfile

import numpy as np

from papertrend.config import load_settings
from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.enrich.embed import embed_missing
from papertrend.ingest.demo import demo_corpus_dir, load_demo
from papertrend.store import open_store
from papertrend.store import schema as t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{tmp}/demo.db")
        store = open_store(settings)
        load_demo(store, settings)
        embed_missing(store, Embedder(max_tokens=settings.embedding_max_tokens), MODEL_ID)
        with store.read() as conn:
            rows = list(conn.execute(t.paper_vectors.select().order_by(t.paper_vectors.c.paper_id)))
        ids = np.array([r.paper_id for r in rows])
        hashes = np.array([r.text_hash for r in rows])
        vectors = np.stack([np.frombuffer(r.vector, dtype=np.float32) for r in rows]).astype(np.float16)
        out = demo_corpus_dir() / "vectors.npz"
        np.savez_compressed(out, ids=ids, hashes=hashes, vectors=vectors)
        print(f"{len(ids)} vectors -> {out}")


if __name__ == "__main__":
    main()
