"""The jobs: what the CLI and the worker run, composed from the domain packages.

Each job's logic lives in its package (``ingest``, ``enrich``, ``rank``, ``digest``); this module
only says what follows what, once, so the CLI and the worker cannot drift apart:

- new papers (an import, a harvest, a submitted id) are followed by :func:`after_ingest`:
  the trending recompute and, when ``embed_on_import`` is on, embeddings;
- a star refresh is followed by the trending recompute;
- :data:`JOBS` is the worker's schedule: each job's name, the setting holding its cron
  expression, and the function that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .config import Settings
from .digest.build import digest_job
from .digest.mailer import deliver
from .enrich.embed import embed_missing, load_vectors_file
from .ingest import remote
from .ingest.demo import demo_corpus_dir, load_demo
from .ingest.importer import Progress, import_paths
from .ingest.metadata import MetadataProgress
from .ingest.polite import PoliteClient
from .models import ImportSummary
from .rank.recompute import recompute_trending
from .search.persist import SnapshotProgress, write_snapshots
from .store import Store

Counts = dict[str, Any]


@dataclass
class EmbedProgress:
    """How a caller watches embedding: the total first, then each batch done."""

    on_total: Callable[[int], None] | None = None
    advance: Callable[[int], None] | None = None


def embed(store: Store, settings: Settings, progress: EmbedProgress | None = None) -> int:
    """Compute missing or stale embeddings with the bundled model; re-runnable."""
    from .enrich.embeddings import MODEL_ID, Embedder

    progress = progress or EmbedProgress()
    embedder = Embedder(max_tokens=settings.embedding_max_tokens)
    return embed_missing(store, embedder, MODEL_ID, progress=progress.advance, on_total=progress.on_total)


def after_ingest(store: Store, settings: Settings, now: datetime | None = None,
                 progress: EmbedProgress | None = None) -> Counts:
    """What follows new papers: the trending recompute, then embeddings (unless turned off)."""
    counts: Counts = {"ranked": sum(recompute_trending(store, now).values())}
    if settings.embed_on_import:
        counts["embedded"] = embed(store, settings, progress)
    return counts


def _summary_counts(summary: ImportSummary, requests: int | None = None) -> Counts:
    counts: Counts = {"new": summary.new, "updated": summary.updated, "unchanged": summary.unchanged,
                      "rejected": summary.rejected}
    if requests is not None:
        counts["requests"] = requests
    return counts


def import_files(store: Store, settings: Settings, paths: list[Path], fmt: str | None = None,
                 on_file: Callable[[Path, int], None] | None = None, progress: Progress | None = None,
                 embed_progress: EmbedProgress | None = None) -> ImportSummary:
    """Import files and folders, then rank and embed what arrived."""
    summary = import_paths(store, settings, paths, fmt, on_file=on_file, progress=progress)
    after_ingest(store, settings, progress=embed_progress)
    return summary


def ingest_arxiv(store: Store, settings: Settings, now: datetime | None = None, since: date | None = None,
                 until: date | None = None, categories: list[str] | None = None,
                 progress: Progress | None = None, client: PoliteClient | None = None) -> Counts:
    summary, requests = remote.ingest_arxiv(store, settings, now, since, until, categories, progress, client)
    after_ingest(store, settings, now)
    return _summary_counts(summary, requests)


def ingest_arxiv_ids(store: Store, settings: Settings, ids: list[str],
                     client: PoliteClient | None = None) -> ImportSummary:
    summary, _ = remote.ingest_arxiv_ids(store, settings, ids, client)
    after_ingest(store, settings)
    return summary


def ingest_oai(store: Store, settings: Settings, set_spec: str, since: date, until: date | None = None,
               now: datetime | None = None, progress: Progress | None = None,
               client: PoliteClient | None = None) -> Counts:
    summary, requests = remote.ingest_oai(store, settings, set_spec, since, until, progress, client)
    after_ingest(store, settings, now)
    return _summary_counts(summary, requests)


def ingest_hf(store: Store, settings: Settings, now: datetime | None = None, since: date | None = None,
              until: date | None = None, progress: Progress | None = None,
              client: PoliteClient | None = None) -> Counts:
    summary, requests = remote.ingest_hf(store, settings, now, since, until, progress, client)
    after_ingest(store, settings, now)
    return _summary_counts(summary, requests)


def fill_metadata(store: Store, settings: Settings, now: datetime | None = None,
                  progress: MetadataProgress | None = None, client: PoliteClient | None = None) -> Counts:
    """Categories from arXiv for papers without one, and arXiv matches for listing-only papers;
    then what follows new metadata (papers that gained a date enter the trending windows)."""
    counts, requests = remote.ingest_metadata(store, settings, progress, client)
    if counts.filled or counts.matched:
        after_ingest(store, settings, now)
    return {**counts.to_json(), **_summary_counts(counts.summary, requests)}


def refresh_stars(store: Store, settings: Settings, now: datetime | None = None, min_age_hours: float = 12.0,
                  limit: int | None = None, progress: Progress | None = None) -> Counts:
    """Star snapshots of every linked repository, then the trending recompute."""
    from .enrich.github import GitHubClient
    from .enrich.stars import refresh_stars as refresh

    client = GitHubClient(settings)
    try:
        counts = refresh(store, client, min_age_hours, limit, progress=progress, now=now)
    finally:
        client.close()
    recompute_trending(store, now)
    return dict(counts)


def fetch_thumbnails(store: Store, settings: Settings, limit: int = 200,
                     client: PoliteClient | None = None) -> Counts:
    """Thumbnails of new papers into the local cache, at the Hugging Face pace."""
    from .enrich.thumbnails import fetch_thumbnails as fetch

    own = client is None
    polite = client or PoliteClient(store, settings, "thumbnails", settings.hf_min_interval, max_wait=60.0)
    try:
        return dict(fetch(store, settings, polite, limit))
    finally:
        if own:
            polite.close()


def prepare_demo(store: Store, settings: Settings, progress: Progress | None = None,
                 embed_progress: EmbedProgress | None = None) -> ImportSummary | None:
    """Load the demo corpus once, with its precomputed vectors, ranked and embedded.
    Returns the import's summary, or None when it was loaded before."""
    from .enrich.embeddings import MODEL_ID

    summary = load_demo(store, settings, progress)
    recompute_trending(store)
    vectors = demo_corpus_dir() / "vectors.npz"
    if vectors.exists():
        load_vectors_file(store, vectors, MODEL_ID)
    embed(store, settings, embed_progress)  # whatever the file did not cover
    return summary


def snapshot_indexes(store: Store, settings: Settings, force: bool = False,
                     progress: SnapshotProgress | None = None, rebuild: bool = False) -> Counts:
    """Bring the snapshots of the full-text and vector indexes up to date, so web processes start
    from them (``settings.snapshot_path``); re-runnable, writes only what changed unless ``force``;
    ``rebuild`` builds the full-text index afresh instead of topping up its last snapshot. With
    ``vector_index = "pgvector"`` the vectors have no snapshot: the pgvector index is topped up
    instead (vectors stored while it did not exist)."""
    from .enrich.embeddings import MODEL_ID
    from .search.lexical import LexicalIndex
    from .search.snapshot import database_identity
    from .search.vectors import build_pgvector, make_index

    pgvector = settings.vector_index == "pgvector"
    vectors = None if pgvector else make_index(store, MODEL_ID, settings.vector_index)
    counts = write_snapshots(store, settings.snapshot_path, database_identity(str(settings.database_url)),
                             LexicalIndex(store), vectors, force, progress, rebuild)
    if pgvector:
        counts.update(build_pgvector(store, MODEL_ID))
    return counts


def index_pgvector(store: Store, settings: Settings, stage: Callable[[str, int | None], None] | None = None,
                   advance: Callable[[int], None] | None = None) -> Counts:
    """`papertrend index pgvector`: the pgvector table and HNSW index, filled from the stored
    vectors (re-runnable, resumable)."""
    from .enrich.embeddings import MODEL_ID
    from .search.vectors import build_pgvector

    return build_pgvector(store, MODEL_ID, stage, advance)


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: its cron expression is the setting ``schedule_<name>``."""

    name: str
    run: Callable[[Store, Settings, datetime], Counts]
    help: str
    quiet: bool = False     # keep only the latest of its runs that did nothing

    def cron(self, settings: Settings) -> str:
        return str(getattr(settings, f"schedule_{self.name}"))


JOBS: tuple[JobSpec, ...] = (
    JobSpec("arxiv", lambda store, settings, now: ingest_arxiv(store, settings, now),
            "arXiv query API for the configured categories, the last 3 days"),
    JobSpec("hf", lambda store, settings, now: ingest_hf(store, settings, now),
            "Hugging Face daily papers, the last 3 days"),
    JobSpec("stars", lambda store, settings, now: refresh_stars(store, settings, now),
            "GitHub stars of linked repositories not checked for 12 hours"),
    JobSpec("thumbnails", lambda store, settings, now: fetch_thumbnails(store, settings),
            "thumbnails of new papers into the local cache"),
    JobSpec("trending", lambda store, settings, now: dict(recompute_trending(store, now)),
            "the trending recompute"),
    JobSpec("metadata", lambda store, settings, now: fill_metadata(store, settings, now),
            "arXiv categories for papers without one, and arXiv matches for listing-only papers"),
    JobSpec("mail", lambda store, settings, now: deliver(store, settings),
            "send queued mail (confirmations, sign-in links, retries)", quiet=True),
    JobSpec("snapshots", lambda store, settings, now: snapshot_indexes(store, settings),
            "snapshots of the search indexes for web processes to start from (when they changed)", quiet=True),
    JobSpec("digest", digest_job, "yesterday's daily digests (and on Mondays last week's weekly ones), then send"),
)
