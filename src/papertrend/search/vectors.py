"""Vector search behind one interface: exact cosine with numpy by default.

The index is loaded from the store's ``paper_vectors`` table and kept current incrementally:
each refresh reads only rows with a higher ``seq`` than it has seen (a re-embedded paper gets a
new seq and overwrites its row).
"""

from __future__ import annotations

import threading

import numpy as np

from ..enrich.embeddings import DIM
from ..store import Store


class VectorIndex:
    def __init__(self, store: Store, model: str) -> None:
        self.store, self.model = store, model
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.matrix = np.zeros((0, DIM), dtype=np.float32)
        self.seq = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def refresh(self) -> int:
        """Load vectors stored since the last refresh; returns how many arrived."""
        with self._lock:
            count, top = self.store.vector_count(self.model)
            if top <= self.seq and count == len(self.ids):
                return 0
            rows = self.store.vectors_after(self.model, self.seq)
            new_ids, new_vecs = [], []
            for seq, paper_id, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if paper_id in self.row_of:
                    self.matrix[self.row_of[paper_id]] = vec
                else:
                    self.row_of[paper_id] = len(self.ids) + len(new_ids)
                    new_ids.append(paper_id)
                    new_vecs.append(vec)
                self.seq = max(self.seq, seq)
            if new_vecs:
                self.matrix = np.vstack([self.matrix, np.stack(new_vecs)])
                self.ids.extend(new_ids)
            return len(rows)

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        row = self.row_of.get(paper_id)
        return None if row is None else self.matrix[row]

    def search(self, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest papers by cosine (vectors are unit length), best first."""
        if not self.ids or k <= 0:
            return []
        scores = self.matrix @ query.astype(np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top]
