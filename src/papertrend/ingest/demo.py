"""The bundled demo corpus: real Hugging Face and arXiv data (see demo/SOURCES.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..config import Settings
from ..models import ImportSummary
from ..store import Store
from .importer import Progress, import_paths


def demo_corpus_dir() -> Path:
    return Path(str(resources.files("papertrend") / "demo"))


def load_demo(store: Store, settings: Settings, progress: Progress | None = None) -> ImportSummary | None:
    """Import the demo corpus unless a completed demo import is already recorded. Idempotent."""
    if any(run.kind == "import" and run.status in ("ok", "partial") and run.detail == "demo"
           for run in store.runs.ingest_runs(limit=1000)):
        return None
    return import_paths(store, settings, [demo_corpus_dir()], progress=progress, label="demo")
