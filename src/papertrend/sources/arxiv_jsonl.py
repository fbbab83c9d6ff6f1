"""arXiv new-submission listings as JSON lines (one paper a line; ids may repeat)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..errors import RecordError
from ..ids import split_arxiv_id
from ..models import Author, PaperRecord
from .text import clean_paragraphs, opt_str, required_title

FORMAT = "arxiv-jsonl"


def parse(lines: Iterator[tuple[int, str | RecordError]], name: str) -> Iterator[PaperRecord | RecordError]:
    """``lines`` are (line number, text) pairs; a line that could not be decoded arrives as an error.

    The listing date, when the file is named ``YYYY-MM-DD.jsonl``, is taken as the
    announcement date: the records themselves carry no date.
    """
    m = re.search(r"(\d{4}-\d{2}-\d{2})", name.rsplit("/", 1)[-1])
    listed = m.group(1) if m else None
    for lineno, line in lines:
        if isinstance(line, RecordError):
            yield line
            continue
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"not valid JSON: {exc.msg} (column {exc.colno})", where) from None
            yield _record(obj, where, listed)
        except RecordError as exc:
            yield exc


def _record(obj: Any, where: str, listed: str | None) -> PaperRecord:
    if not isinstance(obj, dict):
        raise RecordError("expected a JSON object", where)
    raw_id = opt_str(obj.get("id"), where, "id")
    parsed = split_arxiv_id(raw_id or "")
    if parsed is None:
        raise RecordError(f"missing or malformed arXiv id {raw_id!r:.60}", where)
    authors = obj.get("authors") or []
    categories = obj.get("categories") or []
    if not isinstance(authors, list) or not isinstance(categories, list):
        raise RecordError("'authors' and 'categories' should be lists", where)
    summary = obj.get("summary")
    opt_str(summary, where, "summary")
    return PaperRecord(
        source=FORMAT,
        where=where,
        id=parsed[0],
        version=parsed[1],
        title=required_title(obj.get("title"), where),
        abstract=clean_paragraphs(summary) if summary else None,
        authors=[Author(n) for n in (opt_str(a, where, "authors[]") for a in authors) if n],
        categories=[c for c in (opt_str(c, where, "categories[]") for c in categories) if c],
        comment=opt_str(obj.get("comment"), where, "comment"),
        published=listed,
        abs_url=opt_str(obj.get("abs"), where, "abs") or f"https://arxiv.org/abs/{parsed[0]}",
        pdf_url=opt_str(obj.get("pdf"), where, "pdf") or f"https://arxiv.org/pdf/{parsed[0]}",
        raw=obj,
    )
