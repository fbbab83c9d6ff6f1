"""arXiv query API responses: Atom XML, raw or wrapped as ``{url, status_code, body}`` JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import RecordError, SourceError
from ..ids import split_arxiv_id
from ..models import Author, PaperRecord
from .text import clean_line, clean_paragraphs, iso_date, required_title
from .xml import parse_xml, text_of

FORMAT = "arxiv-atom"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


@dataclass
class AtomPage:
    """One page of results: records (or per-entry errors) and the paging totals."""

    items: list[PaperRecord | RecordError] = field(default_factory=list)
    total_results: int | None = None
    start_index: int | None = None
    items_per_page: int | None = None


def unwrap(data: bytes, name: str) -> tuple[bytes, int | None]:
    """The Atom body of a recorded ``{url, status_code, body}`` wrapper, or the bytes as they are."""
    if data.lstrip()[:1] != b"{":
        return data, None
    try:
        wrapper = json.loads(data)
        body = wrapper["body"]
        status = wrapper.get("status_code")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise SourceError(f"not a recorded arXiv response ({exc})", name) from None
    if not isinstance(body, str):
        raise SourceError("recorded response has no text body", name)
    return body.encode("utf-8"), status if isinstance(status, int) else None


def parse_page(data: bytes, name: str) -> AtomPage:
    body, status = unwrap(data, name)
    root = parse_xml(body, name)
    if root.tag != f"{ATOM}feed":
        raise SourceError(f"expected an Atom <feed>, found <{root.tag.split('}')[-1]}>", name)
    page = AtomPage()
    for tag, attr in (("totalResults", "total_results"), ("startIndex", "start_index"),
                      ("itemsPerPage", "items_per_page")):
        value = text_of(root.find(f"{OPENSEARCH}{tag}"))
        if value and value.strip().isdigit():
            setattr(page, attr, int(value))
    for index, entry in enumerate(root.iter(f"{ATOM}entry")):
        where = f"{name}: entry {index}"
        try:
            page.items.append(_record(entry, where))
        except RecordError as exc:
            page.items.append(exc)
    if status is not None and status >= 400 and not any(isinstance(i, RecordError) for i in page.items):
        raise SourceError(f"arXiv answered HTTP {status}", name)
    return page


def parse(data: bytes, name: str) -> Iterator[PaperRecord | RecordError]:
    yield from parse_page(data, name).items


def _record(entry, where: str) -> PaperRecord:  # type: ignore[no-untyped-def]
    raw_id = clean_line(text_of(entry.find(f"{ATOM}id")) or "")
    if "/api/errors" in raw_id:
        message = clean_line(text_of(entry.find(f"{ATOM}summary")) or "unknown error")
        raise RecordError(f"arXiv API error: {message}", where)
    parsed = split_arxiv_id(raw_id)
    if parsed is None:
        raise RecordError(f"entry id {raw_id!r:.80} is not an arXiv abstract URL", where)
    authors = []
    for a in entry.findall(f"{ATOM}author"):
        name = clean_line(text_of(a.find(f"{ATOM}name")) or "")
        if name:
            affiliations = [clean_line(text_of(x) or "") for x in a.findall(f"{ARXIV}affiliation")]
            authors.append(Author(name, "; ".join(x for x in affiliations if x) or None))
    primary = entry.find(f"{ARXIV}primary_category")
    categories = [c.get("term", "") for c in entry.findall(f"{ATOM}category")]
    if primary is not None and primary.get("term"):
        categories = [primary.get("term", "")] + [c for c in categories if c != primary.get("term")]
    abs_url = pdf_url = None
    for link in entry.findall(f"{ATOM}link"):
        href = link.get("href", "")
        # Some captures carry no rel/title attributes: recognise the PDF link by its URL too.
        if link.get("title") == "pdf" or "/pdf/" in href:
            pdf_url = href
        elif link.get("rel") in (None, "alternate") and "/abs/" in href:
            abs_url = href

    def opt(tag: str) -> str | None:
        value = clean_line(text_of(entry.find(tag)) or "")
        return value or None

    summary = text_of(entry.find(f"{ATOM}summary"))
    return PaperRecord(
        source=FORMAT,
        where=where,
        id=parsed[0],
        version=parsed[1],
        title=required_title(text_of(entry.find(f"{ATOM}title")), where),
        abstract=clean_paragraphs(summary) if summary else None,
        authors=authors,
        categories=[c for c in categories if c],
        comment=opt(f"{ARXIV}comment"),
        doi=opt(f"{ARXIV}doi"),
        journal_ref=opt(f"{ARXIV}journal_ref"),
        published=iso_date(opt(f"{ATOM}published")),
        updated=iso_date(opt(f"{ATOM}updated")),
        abs_url=abs_url or f"https://arxiv.org/abs/{parsed[0]}",
        pdf_url=pdf_url or f"https://arxiv.org/pdf/{parsed[0]}",
    )
