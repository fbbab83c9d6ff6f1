"""Comments as a safe Markdown subset: paragraphs, emphasis, links, code, lists, quotes and inline
LaTeX (``$x^2$``, shown the way paper pages show it, by ``latex.render``).

Two locks, so that neither alone has to be perfect: markdown-it-py parses with raw HTML off and
only the rules listed here (no images, headings or tables), and refuses ``javascript:``,
``vbscript:``, ``file:`` and ``data:`` links; then nh3 (ammonia) cleans the HTML to an allow-list
of tags and attributes, links to http(s) and mailto, each with ``rel="nofollow noopener ugc"``.
Inline LaTeX is rendered after the cleaning, into placeholders made of a per-call random word:
``latex.render`` escapes the text it is given, so nothing typed can become markup there either.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markupsafe import Markup

from . import latex

TAGS = {"p", "br", "em", "strong", "s", "code", "pre", "ul", "ol", "li", "a", "blockquote"}
ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
MAX_MATH = 200   # characters in one $...$; longer ones stay text


def _math_inline(state: StateInline, silent: bool) -> bool:
    """``$...$`` on one line, not starting or ending with a space (so "$5 and $6" stays text)."""
    src, start = state.src, state.pos
    if src[start] != "$" or start + 2 > state.posMax:
        return False
    end = src.find("$", start + 1, min(state.posMax, start + 1 + MAX_MATH))
    if end < 0:
        return False
    content = src[start + 1:end]
    if not content or content[0].isspace() or content[-1].isspace() or "\n" in content:
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = content
        token.markup = "$"
    state.pos = end + 1
    return True


def _math_placeholder(self: Any, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
    """A formula becomes a placeholder, filled after the cleaning (state lives in this call's env)."""
    env["formulas"].append(tokens[idx].content)
    return f"ptmath{env['nonce']}x{len(env['formulas']) - 1}x"


def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": False, "maxNesting": 20})
    md.enable(["emphasis", "strikethrough", "link", "autolink", "backticks", "escape", "newline", "entity",
               "list", "blockquote", "code", "fence", "paragraph"])
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.add_render_rule("math_inline", _math_placeholder)
    return md


_MD = _parser()


def render(text: str) -> Markup:
    """A comment's Markdown as safe HTML."""
    env: dict[str, Any] = {"nonce": secrets.token_hex(6), "formulas": []}
    html = _MD.render(text, env)
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES, link_rel="nofollow noopener ugc",
                      strip_comments=True)
    formulas: list[str] = env["formulas"]
    if formulas:
        clean = re.sub(f"ptmath{env['nonce']}x(\\d+)x", lambda m: str(latex.render(f"${formulas[int(m.group(1))]}$")),
                       clean)
    return Markup(clean)
