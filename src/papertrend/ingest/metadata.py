"""Filling in what a paper's first source did not say, from arXiv's own metadata.

Hugging Face daily papers carry no arXiv category, and a pasted listing carries only a title and
an abstract. This job asks the arXiv API, through the polite client (one request every
``arxiv_min_interval`` seconds across the deployment):

1. for papers with an arXiv id and no category: ``id_list=`` in batches of
   ``arxiv_metadata_batch`` ids; what comes back is stored through the importer, where arXiv's
   metadata outranks the aggregator's (categories, authors, dates, links);
2. for papers known only from a pasted listing: a title search (``ti:"..."``) each; only an
   entry whose title is the same title (:func:`ids.normalize_title`) is accepted, and it is
   merged into the listing's paper by title, through the same importer.

A cursor is saved after every stored answer, so an interrupted run resumes where it stopped;
a finished run clears it, and the next run asks only about what is still missing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import RecordError
from ..ids import normalize_title, split_arxiv_id
from ..models import ImportSummary, PaperRecord
from ..sources import arxiv_atom
from ..store import Store
from .importer import import_items
from .polite import PoliteClient

CURSOR = "arxiv-metadata"
TITLE_RESULTS = 5          # a title search's answers to compare; the right one is almost always first
_QUERY_UNSAFE = re.compile(r"[^\w\s-]+")


@dataclass
class MetadataProgress:
    """How a caller watches the job: each phase's total, then each paper done."""

    on_phase: Callable[[str, int], None] | None = None
    advance: Callable[[int], None] | None = None


@dataclass
class MetadataCounts:
    asked: int = 0          # papers without a category asked for by id
    filled: int = 0         # of those, arXiv answered with metadata
    not_on_arxiv: int = 0   # ids arXiv did not return
    searched: int = 0       # listing-only papers looked up by title
    matched: int = 0        # ... with a confident match merged in
    unmatched: int = 0
    summary: ImportSummary = field(default_factory=ImportSummary)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "summary"}


def title_query(title: str) -> str:
    """arXiv's search syntax for a title as a phrase (quotes and operators dropped)."""
    words = _QUERY_UNSAFE.sub(" ", title).split()
    return f'ti:"{" ".join(words)}"'


def confident_match(title: str, records: list[PaperRecord]) -> PaperRecord | None:
    """The one answer whose title is this title (case, accents and punctuation aside)."""
    key = normalize_title(title)
    same = [r for r in records if normalize_title(r.title) == key]
    return same[0] if len(same) == 1 else None


def fill_from_arxiv(store: Store, settings: Settings, client: PoliteClient, run_id: int | None = None,
                    progress: MetadataProgress | None = None) -> MetadataCounts:
    """Both phases, resuming from the saved cursor. Safe to re-run and to interrupt."""
    progress = progress or MetadataProgress()
    counts = MetadataCounts()
    cursor = store.coordination.get_cursor(CURSOR) or {"phase": "ids", "after": ""}
    if cursor["phase"] == "ids":
        _ids_phase(store, settings, client, run_id, cursor["after"], counts, progress)
        cursor = {"phase": "titles", "after": ""}
        store.coordination.set_cursor(CURSOR, cursor)
    _titles_phase(store, settings, client, run_id, cursor["after"], counts, progress)
    store.coordination.set_cursor(CURSOR, None)
    return counts


def _ids_phase(store: Store, settings: Settings, client: PoliteClient, run_id: int | None, after: str,
               counts: MetadataCounts, progress: MetadataProgress) -> None:
    batch = max(1, settings.arxiv_metadata_batch)
    if progress.on_phase:
        progress.on_phase("categories by arXiv id", store.papers.metadata_backlog(after_id=after)[0])
    while ids := store.papers.without_categories(after, batch):
        response = client.get(settings.arxiv_api_url, {"id_list": ",".join(ids), "max_results": len(ids)})
        where = str(response.request.url)
        page = arxiv_atom.parse_page(response.content, where)
        wanted = set(ids)
        # Only what was asked for: a paper this run did not ask about is not its business.
        items = [i for i in page.items if isinstance(i, RecordError) or i.id in wanted]
        counts.summary.add(import_items(store, settings, items, run_id))
        found = {i.id for i in items if isinstance(i, PaperRecord)}
        counts.asked += len(ids)
        counts.filled += len(found)
        counts.not_on_arxiv += len([i for i in ids if (split_arxiv_id(i) or (i, None))[0] not in found])
        after = ids[-1]
        store.coordination.set_cursor(CURSOR, {"phase": "ids", "after": after})
        if progress.advance:
            progress.advance(len(ids))
        if len(ids) < batch:
            break


def _titles_phase(store: Store, settings: Settings, client: PoliteClient, run_id: int | None, after: str,
                  counts: MetadataCounts, progress: MetadataProgress) -> None:
    if progress.on_phase:
        progress.on_phase("listing papers by title", store.papers.metadata_backlog(after_title=after)[1])
    while papers := store.papers.listing_only(after, 50):
        for paper_id, title in papers:
            response = client.get(settings.arxiv_api_url, {"search_query": title_query(title),
                                                           "start": 0, "max_results": TITLE_RESULTS})
            page = arxiv_atom.parse_page(response.content, str(response.request.url))
            match = confident_match(title, [i for i in page.items if isinstance(i, PaperRecord)])
            counts.searched += 1
            if match is not None and store.papers.get(match.id or "") is None:
                # Without its id the record is identified by title: it merges into the listing's
                # paper (arXiv's metadata outranks a listing) instead of becoming a second copy.
                counts.summary.add(import_items(store, settings, [dataclasses.replace(match, id=None)], run_id))
                counts.matched += 1
            else:
                counts.unmatched += 1
            after = paper_id
            store.coordination.set_cursor(CURSOR, {"phase": "titles", "after": after})
            if progress.advance:
                progress.advance(1)
        if len(papers) < 50:
            break
