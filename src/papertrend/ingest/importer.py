"""Storing parsed records: validation, identity (arXiv id or title), merging, one upsert path.

Every source, file or remote, ends here. Each batch is one transaction, so an interrupted
import leaves the store as it was before that batch; importing the same input twice finds
every paper unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..config import Settings
from ..errors import RecordError, SourceError
from ..ids import github_repo, local_id, normalize_title
from ..models import ImportSummary, Paper, PaperRecord, paper_fields
from ..sources import input_files, read_path
from ..store import Store, utcnow
from ..store.papers import BatchReader, MergeState, PaperWrites

# How much a source's descriptive metadata is trusted: arXiv's own metadata wins over
# aggregators, and a pasted listing never overwrites what a real source said.
SOURCE_RANK = {"arxiv-atom": 3, "oai-pmh": 3, "arxiv-jsonl": 2, "hf-daily": 2, "listing": 1}
# How each field merges is declared with the field (models.Paper); derived here, never listed.
METADATA_FIELDS = paper_fields("metadata")
DAILY_FIELDS = paper_fields("daily")
SIGNAL_FIELDS = paper_fields("signal")
LIST_FIELDS = set(paper_fields(kind="json"))
# Text fields other than title and abstract, which have limits of their own.
TEXT_FIELDS = tuple(f for f in paper_fields(kind="text") if f not in ("title", "abstract"))
MAX_TITLE_CHARS = 2_000
MAX_AUTHORS = 5_000

Progress = Callable[[int], None]


_POSITION = re.compile(r"(?::\d+|: (?:entry|record) \d+)$")


def source_ref(where: str) -> str:
    """The file or request a record came from: its ``where`` without the line or entry."""
    return _POSITION.sub("", where)


def validate(record: PaperRecord, settings: Settings) -> None:
    """Limits that make a record unstorable; raise RecordError naming the field."""
    if len(record.title) > MAX_TITLE_CHARS:
        raise RecordError(f"title is {len(record.title):,} characters (limit {MAX_TITLE_CHARS:,})", record.where)
    if record.abstract and len(record.abstract) > settings.max_abstract_chars:
        raise RecordError(f"abstract is {len(record.abstract):,} characters "
                          f"(limit {settings.max_abstract_chars:,}, setting max_abstract_chars)", record.where)
    if len(record.authors) > MAX_AUTHORS:
        raise RecordError(f"{len(record.authors):,} authors (limit {MAX_AUTHORS:,})", record.where)
    for name in TEXT_FIELDS:
        value = getattr(record, name)
        if value and len(value) > settings.max_abstract_chars:
            raise RecordError(f"field {name} is {len(value):,} characters", record.where)


def merge(existing: Paper | None, meta_source: str | None, signals_at: str | None,
          rec: PaperRecord, paper_id: str) -> MergeState:
    """The paper after ``rec`` is applied. Pure: same inputs, same output."""
    paper = dataclasses.replace(existing) if existing else Paper(id=paper_id, title=rec.title)
    rank_new = SOURCE_RANK.get(rec.source, 0)
    rank_old = SOURCE_RANK.get(meta_source or "", 0)
    newer_version = bool(rec.version and (paper.version is None or rec.version > paper.version))
    older_version = bool(paper.version and rec.version and rec.version < paper.version)
    # Ties keep what is stored, so the result does not depend on the order files are imported in.
    overrides = existing is None or (not older_version and (rank_new > rank_old or newer_version))
    for name in METADATA_FIELDS:
        value = getattr(rec, name)
        if value and (overrides or not getattr(paper, name)):
            setattr(paper, name, list(value) if name in LIST_FIELDS else value)
    if overrides:
        meta_source = rec.source
    if newer_version:
        paper.version = rec.version
    newest = bool(rec.observed_at and (signals_at is None or rec.observed_at >= signals_at))
    for name in DAILY_FIELDS:
        value = getattr(rec, name)
        if value and (newest or not getattr(paper, name)):
            setattr(paper, name, list(value) if name in LIST_FIELDS else value)
    repo = github_repo(paper.code_url)
    if repo:
        paper.code_url = f"https://github.com/{repo}"
    if newest:
        for name in SIGNAL_FIELDS:
            value = getattr(rec, name)
            if value is not None:
                setattr(paper, name, value)
        signals_at = rec.observed_at
    return paper, meta_source, signals_at


def store_records(store: Store, settings: Settings, records: Sequence[PaperRecord],
                  run_id: int | None) -> ImportSummary:
    """Validate, identify, merge and write ``records`` in one transaction."""
    summary = ImportSummary()
    valid: list[PaperRecord] = []
    for rec in records:
        try:
            validate(rec, settings)
            valid.append(rec)
        except RecordError as exc:
            summary.rejected += 1
            summary.errors.append(str(exc))
    now = utcnow()

    def plan(stored: BatchReader) -> PaperWrites:
        keys = {normalize_title(r.title) for r in valid if r.id is None}
        by_title = stored.ids_by_title_key(sorted(keys)) if keys else {}
        ids = []
        for rec in valid:
            if rec.id is None:
                rec_id = by_title.setdefault(normalize_title(rec.title), local_id(rec.title))
            else:
                rec_id = rec.id
                if keys:  # let id-less records later in this batch find this paper by title
                    by_title.setdefault(normalize_title(rec.title), rec_id)
            ids.append(rec_id)
        state = stored.merge_state(sorted(set(ids)))
        before = {pid: s[0] for pid, s in state.items()}
        writes = PaperWrites()
        for rec, rec_id in zip(valid, ids, strict=True):
            paper, meta_source, sig_at = state.get(rec_id, (None, None, None))
            state[rec_id] = merge(paper, meta_source, sig_at, rec, rec_id)
            if rec.observed_at and (rec.upvotes is not None or rec.num_comments is not None):
                writes.signals.append({"paper_id": rec_id, "source": rec.source, "observed_at": rec.observed_at,
                                       "upvotes": rec.upvotes, "num_comments": rec.num_comments})
            repo = github_repo(rec.code_url)
            if repo and rec.github_stars is not None and rec.observed_at:
                writes.stars.append({"repo": repo.lower(), "observed_at": rec.observed_at,
                                     "stars": rec.github_stars, "source": rec.source})
            writes.provenance.append({"paper_id": rec_id, "source": rec.source, "ref": source_ref(rec.where),
                                      "first_run_id": run_id, "first_seen": now,
                                      "raw_json": json.dumps(rec.raw, ensure_ascii=False) if rec.raw is not None
                                      else None})
        for pid, merged in state.items():
            old = before.get(pid)
            if old is None:
                writes.new.append(merged)
                summary.new += 1
            elif old != merged[0]:
                writes.changed.append(merged)
                summary.updated += 1
            else:
                summary.unchanged += 1
        linked = (github_repo(p.code_url) for p, _, _ in state.values())
        writes.repos = sorted({s["repo"] for s in writes.stars} | {r.lower() for r in linked if r})
        return writes

    store.papers.apply(plan, now)
    return summary


def import_items(store: Store, settings: Settings, items: Iterable[PaperRecord | RecordError],
                 run_id: int | None, progress: Progress | None = None) -> ImportSummary:
    """Store parsed items in batches of ``import_batch_size``; errors are counted as rejected."""
    summary = ImportSummary()
    batch: list[PaperRecord] = []

    def flush() -> None:
        if batch:
            summary.add(store_records(store, settings, batch, run_id))
            if progress:
                progress(len(batch))
            batch.clear()

    for item in items:
        if isinstance(item, RecordError):
            summary.rejected += 1
            summary.errors.append(str(item))
            if progress:
                progress(1)
            continue
        batch.append(item)
        if len(batch) >= settings.import_batch_size:
            flush()
    flush()
    return summary


def import_paths(store: Store, settings: Settings, paths: Sequence[Path], fmt: str | None = None,
                 on_file: Callable[[Path, int], None] | None = None,
                 progress: Progress | None = None, label: str | None = None) -> ImportSummary:
    """Import files and folders; one ingest run is recorded for the whole call.

    A file that cannot be read at all counts as one rejection with its error; the other files
    are still imported. Ctrl-C stops after rolling back the batch in flight.
    """
    summary = ImportSummary()
    files = input_files(list(paths))
    run_id = store.runs.start_ingest("import", label or " ".join(str(p) for p in paths))
    summary.run_id = run_id
    status = "failed"
    try:
        for path in files:
            try:
                items = read_path(path, fmt)
            except SourceError as exc:
                summary.rejected += 1
                summary.errors.append(str(exc))
                continue
            if on_file:
                on_file(path, len(items))
            summary.add(import_items(store, settings, items, run_id, progress))
        status = "ok" if not summary.rejected else "partial"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.runs.finish_ingest(run_id, status, summary.new, summary.updated, summary.unchanged,
                                 summary.rejected, summary.errors)
    return summary
