"""Recorded harvests: one ingest run per call, through a polite client, resumable.

These store what they fetch and nothing more; what follows new papers (trending, embeddings)
is composed in ``jobs``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from ..config import Settings
from ..models import ImportSummary
from ..store import Store
from .harvest import fetch_arxiv_ids, fetch_hf_daily, harvest_arxiv, harvest_oai
from .importer import Progress
from .metadata import MetadataCounts, MetadataProgress, fill_from_arxiv
from .polite import PoliteClient

Work = Callable[[PoliteClient, int], ImportSummary]


def recorded(store: Store, kind: str, detail: str, work: Callable[[int], ImportSummary]) -> ImportSummary:
    """Run an ingest with its run recorded; a failure is recorded before it propagates."""
    run_id = store.runs.start_ingest(kind, detail)
    summary = ImportSummary(run_id=run_id)
    status = "failed"
    try:
        summary = work(run_id)
        summary.run_id = run_id
        status = "ok" if not summary.rejected else "partial"
        return summary
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then raised again unchanged
        summary.errors.append(str(exc))
        raise
    finally:
        store.runs.finish_ingest(run_id, status, summary.new, summary.updated, summary.unchanged, summary.rejected,
                                 summary.errors)


def _harvest(store: Store, settings: Settings, kind: str, detail: str, slot: str, interval: float,
             client: PoliteClient | None, work: Work) -> tuple[ImportSummary, int]:
    """One recorded harvest through a polite client (ours unless one is given); the summary and
    the number of requests made."""
    polite = client or PoliteClient(store, settings, slot, interval)
    try:
        return recorded(store, kind, detail, lambda run: work(polite, run)), polite.requests
    finally:
        if client is None:
            polite.close()


def arxiv_categories(settings: Settings, categories: list[str] | None = None) -> list[str]:
    return categories or [c.strip() for c in settings.arxiv_categories.split(",") if c.strip()]


def ingest_arxiv(store: Store, settings: Settings, now: datetime | None = None, since: date | None = None,
                 until: date | None = None, categories: list[str] | None = None,
                 progress: Progress | None = None,
                 client: PoliteClient | None = None) -> tuple[ImportSummary, int]:
    """arXiv query API for the categories and dates (default: the last 3 days). Resumable."""
    now = now or datetime.now(UTC)
    until = until or now.date()
    since = since or until - timedelta(days=3)
    cats = arxiv_categories(settings, categories)
    return _harvest(store, settings, "arxiv", f"{','.join(cats)} {since}..{until}", "arxiv",
                    settings.arxiv_min_interval, client,
                    lambda polite, run: harvest_arxiv(store, settings, polite, cats, since, until, run,
                                                      progress=progress))


def ingest_arxiv_ids(store: Store, settings: Settings, ids: list[str],
                     client: PoliteClient | None = None) -> tuple[ImportSummary, int]:
    """Papers by arXiv id (ids arXiv does not return are rejected, naming the request)."""
    return _harvest(store, settings, "arxiv", "ids " + ",".join(ids), "arxiv", settings.arxiv_min_interval,
                    client, lambda polite, run: fetch_arxiv_ids(store, settings, polite, ids, run))


def ingest_oai(store: Store, settings: Settings, set_spec: str, since: date, until: date | None = None,
               progress: Progress | None = None, client: PoliteClient | None = None) -> tuple[ImportSummary, int]:
    """OAI-PMH harvest of a set (shares arXiv's politeness slot). Resumable."""
    return _harvest(store, settings, "oai", f"{set_spec} {since}..{until or ''}", "arxiv",
                    settings.arxiv_min_interval, client,
                    lambda polite, run: harvest_oai(store, settings, polite, set_spec, since, until, run, progress))


def ingest_hf(store: Store, settings: Settings, now: datetime | None = None, since: date | None = None,
              until: date | None = None, progress: Progress | None = None,
              client: PoliteClient | None = None) -> tuple[ImportSummary, int]:
    """Daily papers for each day from ``since`` to ``until`` (default: 3 days) from the
    ``hf_endpoint``: Hugging Face, or another papertrend (federation). Each host has its own
    politeness slot, so following a peer never delays Hugging Face's requests, nor the reverse."""
    now = now or datetime.now(UTC)
    until = until or now.date()
    since = since or until - timedelta(days=2)
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    host = urlsplit(settings.hf_endpoint).netloc.lower()
    slot = "hf" if host == "huggingface.co" else f"hf:{host}"
    detail = f"{since}..{until}" if slot == "hf" else f"{settings.hf_endpoint.rstrip('/')} {since}..{until}"
    return _harvest(store, settings, "hf", detail, slot, settings.hf_min_interval, client,
                    lambda polite, run: fetch_hf_daily(store, settings, polite, days, run, progress))


def ingest_metadata(store: Store, settings: Settings, progress: MetadataProgress | None = None,
                    client: PoliteClient | None = None) -> tuple[MetadataCounts, int]:
    """arXiv metadata for papers without a category and for listing-only papers. Resumable."""
    counts = MetadataCounts()

    def work(polite: PoliteClient, run: int) -> ImportSummary:
        nonlocal counts
        counts = fill_from_arxiv(store, settings, polite, run, progress)
        return counts.summary

    summary, requests = _harvest(store, settings, "metadata", "categories and listing titles", "arxiv",
                                 settings.arxiv_min_interval, client, work)
    counts.summary = summary
    return counts, requests
