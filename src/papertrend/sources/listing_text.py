"""A papers listing copied from a browser as plain text: title line, blank line, abstract.

There are no ids: the importer matches titles against known papers. Lines of page chrome
("Subscribe", a date, a tagline) are recognised because they are not followed by an abstract.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import RecordError, SourceError
from ..models import PaperRecord
from .text import clean_line, clean_paragraphs

FORMAT = "listing"
_MAX_TITLE_CHARS = 400
_MAX_TITLE_WORDS = 40
_MIN_ABSTRACT_WORDS = 20


def _looks_like_abstract(line: str) -> bool:
    return len(line.split()) >= _MIN_ABSTRACT_WORDS


def _is_title_of(title: str, abstract: str) -> bool:
    words = len(title.split())
    return (len(title) <= _MAX_TITLE_CHARS and words <= _MAX_TITLE_WORDS
            and _looks_like_abstract(abstract) and len(abstract.split()) > 1.5 * words)


def parse(text: str, name: str) -> Iterator[PaperRecord | RecordError]:
    if text.lstrip().startswith(("<", "{", "[")):
        raise SourceError("this looks like markup or JSON, not a text listing of titles and abstracts", name)
    found = 0
    for item in _pairs(text, name):
        found += 1
        yield item
    if not found and text.strip():
        raise SourceError("no title + abstract pairs found (a title line, a blank line, then the abstract)", name)


def _pairs(text: str, name: str) -> Iterator[PaperRecord | RecordError]:
    lines = [(n, clean_line(raw)) for n, raw in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line]
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        following = lines[i + 1][1] if i + 1 < len(lines) else ""
        if _is_title_of(line, following):
            yield PaperRecord(source=FORMAT, where=f"{name}:{lineno}", title=line,
                              abstract=clean_paragraphs(following))
            i += 2
        elif _looks_like_abstract(line):
            yield RecordError("abstract without a title line before it", f"{name}:{lineno}")
            i += 1
        else:
            i += 1  # page chrome
