"""Search results: LaTeX rendered as on every other page, then the query's words marked.

The order matters. Marking first would put <mark> inside $...$ and break the formula; rendering
the marked HTML would escape our own tags. So the text is rendered first (``latex.render``:
escaped text plus our own tags, or MathML), and only the text between tags is marked: each such
piece is unescaped and handed to the highlighter, which escapes it again around its <mark>s, so
nothing is escaped twice and no highlight can split a tag or an entity. Nothing inside <math> is
marked (MathML does not allow <mark> there).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from markupsafe import Markup

from . import latex

_TAG = re.compile(r"(<[^>]*>)")


def marked(rendered: Markup, mark: Callable[[str], Markup]) -> Markup:
    """``rendered`` HTML with the text between its tags passed through ``mark``."""
    out: list[str] = []
    in_math = 0
    for piece in _TAG.split(str(rendered)):
        if piece.startswith("<"):
            name = piece[1:].lstrip("/").split(None, 1)[0].rstrip(">").lower() if len(piece) > 2 else ""
            if name == "math":
                in_math += -1 if piece.startswith("</") else (0 if piece.endswith("/>") else 1)
            out.append(piece)
        elif piece:
            out.append(piece if in_math > 0 else str(mark(html.unescape(piece))))
    return Markup("".join(out))


def render_marked(text: str, mark: Callable[[str], Markup]) -> Markup:
    """``text`` (a title or a passage of an abstract) as HTML with LaTeX rendered and the
    query's words marked."""
    return marked(latex.render(text), mark)
