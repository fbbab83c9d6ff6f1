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
from typing import Any

from .config import Settings
from .errors import RecordError, SourceError
from .ids import github_repo, local_id, normalize_title
from .models import ImportSummary, Paper, PaperRecord
from .sources import read_path, input_files
from .store import Store, utcnow

# How much a source's descriptive metadata is trusted: arXiv's own metadata wins over
# aggregators, and a pasted listing never overwrites what a real source said.
SOURCE_RANK = {"arxiv-atom": 3, "oai-pmh": 3, "arxiv-jsonl": 2, "hf-daily": 2, "listing": 1}
METADATA_FIELDS = ("title", "abstract", "authors", "categories", "comment", "doi", "journal_ref",
                   "published", "updated", "abs_url", "pdf_url")
LIST_FIELDS = {"authors", "categories", "ai_keywords"}
DAILY_FIELDS = ("daily_date", "submitter", "organization", "ai_summary", "ai_keywords",
                "project_page", "code_url")
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
    for name in ("comment", "doi", "journal_ref", "ai_summary", "project_page", "code_url", "organization"):
        value = getattr(record, name)
        if value and len(value) > settings.max_abstract_chars:
            raise RecordError(f"field {name} is {len(value):,} characters", record.where)


def merge(existing: Paper | None, meta_source: str | None, signals_at: str | None,
          rec: PaperRecord, paper_id: str) -> tuple[Paper, str | None, str | None]:
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
        if rec.upvotes is not None:
            paper.upvotes = rec.upvotes
        if rec.num_comments is not None:
            paper.num_comments = rec.num_comments
        if rec.github_stars is not None:
            paper.github_stars = rec.github_stars
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
    with store.write() as conn:
        keys = {normalize_title(r.title) for r in valid if r.id is None}
        by_title = store.ids_by_title_key(conn, sorted(keys)) if keys else {}
        ids = []
        for rec in valid:
            if rec.id is None:
                key = normalize_title(rec.title)
                rec_id = by_title.setdefault(key, local_id(rec.title))
            else:
                rec_id = rec.id
                if keys:  # let id-less records later in this batch find this paper by title
                    by_title.setdefault(normalize_title(rec.title), rec_id)
            ids.append(rec_id)
        state = store.merge_state(conn, sorted(set(ids)))
        before = {pid: s[0] for pid, s in state.items()}
        signals: list[dict[str, Any]] = []
        stars: list[dict[str, Any]] = []
        provenance: list[dict[str, Any]] = []
        for rec, rec_id in zip(valid, ids):
            paper, meta_source, sig_at = state.get(rec_id, (None, None, None))
            state[rec_id] = merge(paper, meta_source, sig_at, rec, rec_id)
            if rec.observed_at and (rec.upvotes is not None or rec.num_comments is not None):
                signals.append({"paper_id": rec_id, "source": rec.source, "observed_at": rec.observed_at,
                                "upvotes": rec.upvotes, "num_comments": rec.num_comments})
            repo = github_repo(rec.code_url)
            if repo and rec.github_stars is not None and rec.observed_at:
                stars.append({"repo": repo.lower(), "observed_at": rec.observed_at, "stars": rec.github_stars,
                              "source": rec.source})
            provenance.append({"paper_id": rec_id, "source": rec.source, "ref": source_ref(rec.where),
                               "first_run_id": run_id, "first_seen": now,
                               "raw_json": json.dumps(rec.raw, ensure_ascii=False) if rec.raw is not None else None})
        new_rows, changed_rows = [], []
        for pid, (paper, meta_source, sig_at) in state.items():
            old = before.get(pid)
            if old is None:
                new_rows.append(store.paper_row(paper, meta_source, sig_at))
                summary.new += 1
            elif old != paper:
                changed_rows.append(store.paper_row(paper, meta_source, sig_at))
                summary.updated += 1
            else:
                summary.unchanged += 1
        store.insert_papers(conn, new_rows, now)
        store.update_papers(conn, changed_rows, now)
        store.add_observations(conn, signals, stars)
        store.add_repos(conn, sorted({s["repo"] for s in stars} | {
            r.lower() for r in (github_repo(p.code_url) for p, _, _ in state.values()) if r}))
        store.add_provenance(conn, provenance)
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
    run_id = store.start_run("import", label or " ".join(str(p) for p in paths))
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
        store.finish_run(run_id, status, summary.new, summary.updated, summary.unchanged, summary.rejected,
                         summary.errors)
    return summary
