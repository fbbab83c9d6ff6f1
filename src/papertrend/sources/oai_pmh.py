"""OAI-PMH responses in arXiv's own metadata format (``metadataPrefix=arXiv``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from ..errors import RecordError, SourceError
from ..ids import split_arxiv_id
from ..models import Author, PaperRecord
from .text import clean_line, clean_paragraphs, iso_date, required_title
from .xml import parse_xml, text_of

FORMAT = "oai-pmh"
OAI = "{http://www.openarchives.org/OAI/2.0/}"


@dataclass
class OaiPage:
    items: list[PaperRecord | RecordError] = field(default_factory=list)
    resumption_token: str | None = None
    complete_list_size: int | None = None
    # OAI "noRecordsMatch" is an answer, not a failure: an empty harvest window.
    no_records: bool = False


def parse_page(data: bytes, name: str) -> OaiPage:
    root = parse_xml(data, name)
    if root.tag != f"{OAI}OAI-PMH":
        raise SourceError(f"expected an <OAI-PMH> document, found <{root.tag.split('}')[-1]}>", name)
    page = OaiPage()
    error = root.find(f"{OAI}error")
    if error is not None:
        code = error.get("code", "")
        if code == "noRecordsMatch":
            page.no_records = True
            return page
        raise SourceError(f"OAI-PMH error {code}: {clean_line(text_of(error) or '')}", name)
    for index, record in enumerate(root.iter(f"{OAI}record")):
        where = f"{name}: record {index}"
        header = record.find(f"{OAI}header")
        if header is not None and header.get("status") == "deleted":
            continue
        try:
            page.items.append(_record(record, where))
        except RecordError as exc:
            page.items.append(exc)
    token = root.find(f".//{OAI}resumptionToken")
    if token is not None:
        page.resumption_token = clean_line(token.text or "") or None
        size = token.get("completeListSize")
        page.complete_list_size = int(size) if size and size.isdigit() else None
    return page


def parse(data: bytes, name: str) -> Iterator[PaperRecord | RecordError]:
    yield from parse_page(data, name).items


def _first_doi(value: str | None) -> str | None:
    # the field may list several DOIs, separated by spaces or commas
    parts = re.split(r"[\s,;]+", value or "")
    return next((p for p in parts if p), None)


def _record(record: Element, where: str) -> PaperRecord:
    # Hand-edited captures omit the arXiv namespace, so the element inherits OAI's: accept any.
    meta = next((child for child in record.find(f"{OAI}metadata") or []
                 if child.tag.rsplit("}", 1)[-1] == "arXiv"), None)
    if meta is None:
        raise RecordError("record has no arXiv metadata (metadataPrefix=arXiv)", where)
    AX = meta.tag[: -len("arXiv")]

    def opt(tag: str) -> str | None:
        value = clean_line(text_of(meta.find(f"{AX}{tag}")) or "")
        return value or None

    raw_id = opt("id") or ""
    parsed = split_arxiv_id(raw_id)
    if parsed is None:
        raise RecordError(f"missing or malformed arXiv id {raw_id!r:.60}", where)
    authors = []
    for a in meta.findall(f"{AX}authors/{AX}author"):
        parts = [clean_line(text_of(a.find(f"{AX}{t}")) or "") for t in ("forenames", "keyname", "suffix")]
        name = " ".join(p for p in parts if p)
        if name:
            affiliations = [clean_line(text_of(x) or "") for x in a.findall(f"{AX}affiliation")]
            authors.append(Author(name, "; ".join(x for x in affiliations if x) or None))
    abstract = text_of(meta.find(f"{AX}abstract"))
    return PaperRecord(
        source=FORMAT,
        where=where,
        id=parsed[0],
        version=None,
        title=required_title(text_of(meta.find(f"{AX}title")), where),
        abstract=clean_paragraphs(abstract) if abstract else None,
        authors=authors,
        categories=(opt("categories") or "").split(),
        comment=opt("comments"),
        doi=_first_doi(opt("doi")),
        journal_ref=opt("journal-ref"),
        published=iso_date(opt("created")),
        updated=iso_date(opt("updated")),
        abs_url=f"https://arxiv.org/abs/{parsed[0]}",
        pdf_url=f"https://arxiv.org/pdf/{parsed[0]}",
    )
