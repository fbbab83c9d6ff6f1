"""Re-runnable job functions that the CLI and the worker both call."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .config import Settings
from .importer import Progress, import_paths
from .models import ImportSummary
from .store import Store


def demo_corpus_dir() -> Path:
    """The bundled demo corpus (real Hugging Face and arXiv data; see its SOURCES.md)."""
    return Path(str(resources.files("papertrend") / "demo"))


def open_store(settings: Settings) -> Store:
    """A store whose schema is ready: created on an empty database, refused when outdated."""
    store = Store(settings)
    store.ensure_schema()
    return store


def load_demo(store: Store, settings: Settings, progress: Progress | None = None) -> ImportSummary | None:
    """Import the demo corpus unless a completed demo import is already recorded. Idempotent."""
    if any(run.kind == "import" and run.status in ("ok", "partial") and run.detail == "demo"
           for run in store.ingest_runs(limit=1000)):
        return None
    return import_paths(store, settings, [demo_corpus_dir()], progress=progress, label="demo")
