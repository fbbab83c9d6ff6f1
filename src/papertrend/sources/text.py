"""Small pure helpers shared by the parsers: cleaning text and reading loosely typed fields."""

from __future__ import annotations

import re
from typing import Any

from ..errors import RecordError

# C0/C1 control characters other than tab and newline never belong in paper text; they can
# break terminals, JSON consumers and mail headers.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=[ \t]+)")
# Hugging Face's summaries (and pages copied from them) carry HTML numeric entities with their
# "&#" and ";" stripped: "scratch&#x2013;even" arrives as "scratchx2013even". Only General
# Punctuation code points (dashes, quotes, ellipsis: U+2010-U+2027) squeezed between two letters
# are restored, so hex-looking words ("0x2013", "1024x1024", user names) are left alone.
_MANGLED_ENTITY = re.compile(r"(?<=[^\W\d_])x(20[12][0-9a-fA-F])(?=[^\W\d_])")


def restore_entities(value: str) -> str:
    """Undo stripped numeric entities: ``textx2013even`` -> ``text\u2013even``."""
    if "x20" not in value:
        return value
    return _MANGLED_ENTITY.sub(lambda m: chr(int(m.group(1), 16)) if int(m.group(1), 16) <= 0x2027 else m.group(0),
                               value)


def clean_line(value: str) -> str:
    """One line of text: control characters removed, whitespace runs folded to one space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def clean_paragraphs(value: str) -> str:
    """An abstract: arXiv's hard line wraps joined, paragraph breaks kept as blank lines.

    arXiv starts a new paragraph with a newline followed by indentation; other newlines
    are only wrapping.
    """
    value = _CONTROL.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [" ".join(restore_entities(p).split()) for p in _PARAGRAPH.split(value.strip())]
    return "\n\n".join(p for p in paragraphs if p)


def opt_str(value: Any, where: str, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} should be text, got {type(value).__name__}", where)
    value = clean_line(value)
    return value or None


def opt_int(value: Any, where: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RecordError(f"field {name!r} should be a number, got {type(value).__name__}", where)
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise RecordError(f"field {name!r} should be a number, got {value!r:.40}", where) from None
    if number < 0 or number > 10**12:
        raise RecordError(f"field {name!r} is out of range: {number}", where)
    return number


def required_title(value: Any, where: str) -> str:
    title = opt_str(value, where, "title")
    title = restore_entities(title) if title else title
    if not title:
        raise RecordError("missing title", where)
    return title


def iso_date(value: str | None) -> str | None:
    """The ``YYYY-MM-DD`` part of an ISO date or datetime, or None when it is not one."""
    if not value:
        return None
    m = re.match(r"(\d{4}-\d{2}-\d{2})", value.strip())
    return m.group(1) if m else None
