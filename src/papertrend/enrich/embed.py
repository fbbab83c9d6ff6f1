"""Embedding the stored papers: missing or stale vectors computed, or loaded from a file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..store import Store
from .embeddings import Embedder, paper_text


def text_hash(title: str, abstract: str) -> str:
    """What a stored vector was made from: a changed title or abstract makes it stale."""
    return hashlib.sha1(f"{title}\n{abstract}".encode()).hexdigest()[:16]


def embed_missing(store: Store, embedder: Embedder, model: str, batch: int = 256,
                  progress: Callable[[int], None] | None = None,
                  on_total: Callable[[int], None] | None = None) -> int:
    """Embed papers that have no vector for ``model`` or whose text changed. Re-runnable:
    each batch is stored as it is done, so an interrupted run keeps what it finished."""
    todo = [(pid, title, abstract) for pid, title, abstract, stored in store.vectors.texts_to_embed(model)
            if stored != text_hash(title, abstract)]
    if on_total:
        on_total(len(todo))
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        vectors = embedder.embed([paper_text(t, a) for _, t, a in chunk], progress=progress)
        store.vectors.save([{"paper_id": pid, "model": model, "text_hash": text_hash(t, a),
                             "vector": vectors[i].astype("<f4").tobytes()} for i, (pid, t, a) in enumerate(chunk)])
    return len(todo)


def load_vectors_file(store: Store, path: Path, model: str) -> int:
    """Store precomputed vectors (an .npz with ids, text hashes and float16 vectors). Idempotent."""
    data = np.load(path, allow_pickle=False)
    # Only vectors of the text as stored now, for papers that lack them.
    wanted = {pid: text_hash(title, abstract) for pid, title, abstract, stored in store.vectors.texts_to_embed(model)
              if stored != text_hash(title, abstract)}
    rows = []
    for pid, hashed, vec in zip(data["ids"], data["hashes"], data["vectors"], strict=True):
        pid = str(pid)
        if wanted.get(pid) == str(hashed):
            vec = vec.astype(np.float32)
            vec /= max(float(np.linalg.norm(vec)), 1e-12)
            rows.append({"paper_id": pid, "model": model, "text_hash": str(hashed),
                         "vector": vec.astype("<f4").tobytes()})
    for i in range(0, len(rows), 2000):
        store.vectors.save(rows[i:i + 2000])
    return len(rows)
