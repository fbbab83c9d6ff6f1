"""The passage of an abstract that shows why a paper was found: around its best match, not its
opening. Pure text in, text out; the page escapes, renders LaTeX and marks the words.
"""

from __future__ import annotations

import re

from .query import Query, word_pattern

# Sentence ends: a full stop, question or exclamation mark, then a space and a capital or digit.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\\$(\"'])")
ELLIPSIS = "…"


def best_passage(text: str, query: Query, width: int = 320) -> str:
    """About ``width`` characters of ``text`` around the sentence that holds the most distinct
    query words (the earliest of equals), marked with "…" where text was left out. A text that
    holds none of the words (a paper found by meaning) gives its opening. Cuts fall between
    words and never inside a $formula$ or a {group}, so LaTeX stays whole."""
    text = " ".join((text or "").split())
    if len(text) <= width:
        return text
    pattern = word_pattern(query)
    start = 0
    if pattern is not None:
        best = 0
        bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
        for begin, end in zip(bounds, bounds[1:], strict=False):
            matches = list(pattern.finditer(text, begin, end))
            if len({m.group(0).lower() for m in matches}) > best:
                best = len({m.group(0).lower() for m in matches})
                # A long sentence: begin a little before its first match rather than at its start.
                start = begin if matches[0].start() - begin <= width // 2 else matches[0].start() - width // 4
    start = _safe_start(text, start)
    end = _safe_end(text, min(len(text), start + width))
    if end - start < width * 2 // 3 and start > 0:
        # The best sentence is near the end: show more before it instead.
        start = _safe_start(text, max(0, end - width))
    return (ELLIPSIS + " " if start > 0 else "") + text[start:end].strip() + (" " + ELLIPSIS if end < len(text) else "")


def _open_at(text: str, i: int) -> tuple[int | None, int | None]:
    """Where the $formula$ and the {group} that contain position ``i`` begin (None: none)."""
    math_at: int | None = None
    groups: list[int] = []
    j = 0
    while j < i:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "$":
            math_at = None if math_at is not None else j
        elif c == "{":
            groups.append(j)
        elif c == "}" and groups:
            groups.pop()
        j += 1
    return math_at, (groups[0] if groups else None)


def _safe_start(text: str, i: int) -> int:
    if i <= 0:
        return 0
    math_at, group_at = _open_at(text, i)
    inside = [x for x in (math_at, group_at) if x is not None]
    if inside:
        i = min(inside)
        # \emph{...}: begin at the command, not at its brace.
        while i > 0 and (text[i - 1].isalpha() or text[i - 1] == "\\"):
            i -= 1
            if text[i] == "\\":
                break
        return i
    space = text.rfind(" ", 0, i + 1)
    return space + 1 if space >= 0 else 0


def _safe_end(text: str, i: int) -> int:
    if i >= len(text):
        return len(text)
    space = text.rfind(" ", 0, i)
    end = space if space > 0 else i
    math_at, group_at = _open_at(text, end)
    inside = [x for x in (math_at, group_at) if x is not None]
    if inside:
        # Stop before the formula or group that would be cut (or after it when it began the text).
        cut = min(inside)
        while cut > 0 and text[cut - 1] not in " ":
            cut -= 1
        return cut if cut > 0 else end
    return end
