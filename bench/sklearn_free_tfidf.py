"""TF-IDF cosine neighbours in numpy (arxiv-sanity-lite's method, without scikit-learn)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np


class TfIdf:
    def __init__(self, texts: list[str]) -> None:
        docs = [Counter(re.findall(r"[a-z0-9]{2,}", t.lower())) for t in texts]
        df = Counter(w for d in docs for w in d)
        vocab = {w: i for i, w in enumerate(w for w, n in df.items() if n >= 2)}
        idf = np.zeros(len(vocab), dtype=np.float32)
        for w, i in vocab.items():
            idf[i] = np.log((1 + len(docs)) / (1 + df[w])) + 1
        self.m = np.zeros((len(docs), len(vocab)), dtype=np.float32)
        for r, d in enumerate(docs):
            for w, n in d.items():
                if w in vocab:
                    self.m[r, vocab[w]] = (1 + np.log(n)) * idf[vocab[w]]
        self.m /= np.maximum(np.linalg.norm(self.m, axis=1, keepdims=True), 1e-9)

    def neighbours(self, row: int, k: int, among: np.ndarray | None = None) -> list[int]:
        """The ``k`` rows most similar to ``row``, itself left out. With ``among`` (row numbers)
        only those rows are candidates, and positions in ``among`` are returned."""
        sims = self.m @ self.m[row]
        sims[row] = -1
        if among is not None:
            sims = sims[among]  # all rows scored, then picked: cheaper than copying the rows
        return list(np.argsort(-sims)[:k])
