"""Hugging Face daily-papers API responses (``GET /api/daily_papers?date=``): a JSON array."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import RecordError, SourceError
from ..ids import split_arxiv_id
from ..models import Author, PaperRecord
from .text import clean_paragraphs, iso_date, opt_int, opt_str, required_title

FORMAT = "hf-daily"


def parse(text: str, name: str) -> Iterator[PaperRecord | RecordError]:
    """Records of one response; a bad entry yields a RecordError, the others still come."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"not valid JSON: {exc.msg} (column {exc.colno})", f"{name}:{exc.lineno}") from None
    if not isinstance(data, list):
        raise SourceError("expected a JSON array of daily-paper entries", name)
    for index, entry in enumerate(data):
        where = f"{name}: entry {index}"
        try:
            yield _record(entry, where)
        except RecordError as exc:
            yield exc


def _obj(value: Any, where: str, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"field {name!r} should be an object", where)
    return value


def _record(entry: Any, where: str) -> PaperRecord:
    entry = _obj(entry, where, "entry")
    paper = _obj(entry.get("paper"), where, "paper")
    if not paper:
        raise RecordError("entry has no 'paper' object", where)
    raw_id = opt_str(paper.get("id"), where, "paper.id")
    if not raw_id:
        raise RecordError("missing paper id", where)
    parsed = split_arxiv_id(raw_id)
    if parsed is None:
        raise RecordError(f"paper id {raw_id!r:.60} is not an arXiv id", where)
    authors_raw = paper.get("authors") or []
    if not isinstance(authors_raw, list):
        raise RecordError("field 'authors' should be a list", where)
    authors = []
    for a in authors_raw:
        author_name = opt_str(_obj(a, where, "authors[]").get("name"), where, "authors[].name")
        if author_name:
            authors.append(Author(author_name))
    keywords_raw = paper.get("ai_keywords") or []
    if not isinstance(keywords_raw, list):
        raise RecordError("field 'ai_keywords' should be a list", where)
    keywords = [k for k in (opt_str(k, where, "ai_keywords[]") for k in keywords_raw) if k]
    submitter = _obj(paper.get("submittedOnDailyBy") or entry.get("submittedBy"), where, "submittedOnDailyBy")
    org = _obj(paper.get("organization") or entry.get("organization"), where, "organization")
    summary = paper.get("summary", entry.get("summary"))
    abstract = opt_str(summary, where, "summary")  # type-checks; the text itself keeps paragraphs
    daily = opt_str(paper.get("submittedOnDailyAt"), where, "submittedOnDailyAt")
    repo = opt_str(paper.get("githubRepo"), where, "githubRepo")
    thumbnail = opt_str(entry.get("thumbnail") or paper.get("thumbnail"), where, "thumbnail")
    return PaperRecord(
        source=FORMAT,
        where=where,
        id=parsed[0],
        version=parsed[1],
        title=required_title(paper.get("title", entry.get("title")), where),
        abstract=clean_paragraphs(summary) if abstract else None,
        authors=authors,
        published=iso_date(opt_str(paper.get("publishedAt"), where, "publishedAt")),
        abs_url=f"https://arxiv.org/abs/{parsed[0]}",
        pdf_url=f"https://arxiv.org/pdf/{parsed[0]}",
        project_page=opt_str(paper.get("projectPage"), where, "projectPage"),
        code_url=repo,
        daily_date=iso_date(daily),
        submitter=opt_str(submitter.get("fullname") or submitter.get("name"), where, "submitter"),
        organization=opt_str(org.get("fullname") or org.get("name"), where, "organization"),
        ai_summary=opt_str(paper.get("ai_summary"), where, "ai_summary"),
        ai_keywords=keywords,
        # Only a web address is kept: the worker fetches it later (enrich/thumbnails.py).
        thumbnail_url=thumbnail if thumbnail and thumbnail.startswith("https://") else None,
        observed_at=daily,
        upvotes=opt_int(paper.get("upvotes"), where, "upvotes"),
        num_comments=opt_int(entry.get("numComments"), where, "numComments"),
        github_stars=opt_int(paper.get("githubStars"), where, "githubStars") if repo else None,
        raw=entry,
    )
