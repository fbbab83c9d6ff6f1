"""Inline LaTeX in titles and abstracts, shown without any script: formulas as MathML, the rest
as escaped HTML.

``$...$`` formulas go through latex2mathml; its output is parsed and rebuilt from an allow-list
of MathML elements and attributes, so nothing from a paper can become an element, an attribute
or a link (latex2mathml itself passes ``\\href{javascript:..}``, ``\\style{..}`` and raw ``<``
in ``\\text{}`` through). A formula that does not convert, or converts to something outside the
allow-list, or leaves a command it did not know (``<mi>\\foo</mi>``), is shown as before: escaped
text with <sub>/<sup>. Outside formulas the text is escaped first; only then are our own tags
(<em>, <strong>) put around pieces of already escaped text.

Tab titles and mail use ``mathtext.plain`` instead (text only; see digest/compose.py).
"""

from __future__ import annotations

import functools
import re
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from latex2mathml.converter import convert
from markupsafe import Markup, escape

from ..mathtext import COMMAND, MATH, SCRIPT, STYLE, command

_TAGS = {"emph": "em", "textit": "em", "mathit": "em", "textbf": "strong", "mathbf": "strong", "boldsymbol": "strong"}
_NS = "{http://www.w3.org/1998/Math/MathML}"
# MathML Core's presentation elements (no <maction>, <semantics> annotations or links).
_ELEMENTS = frozenset(
    "math mrow mi mn mo ms mtext mspace msup msub msubsup mfrac msqrt mroot mover munder munderover "
    "mtable mtr mtd mstyle mpadded mphantom menclose merror mmultiscripts mprescripts none".split())
_ATTRIBUTES = frozenset(
    "display mathvariant stretchy fence separator lspace rspace accent accentunder columnalign rowalign "
    "displaystyle scriptlevel minsize maxsize movablelimits symmetric largeop form linethickness width "
    "height depth notation columnspacing rowspacing columnlines rowlines frame".split())
# Attribute values latex2mathml writes are words, numbers and lengths; anything else is dropped.
_VALUE = re.compile(r"[A-Za-z0-9.%\- ]{0,40}")


class _Unsafe(ValueError):
    """The converted formula has something outside the allow-list: show the fallback instead."""


def _rebuild(node: Element) -> str:
    tag = node.tag.removeprefix(_NS)
    if tag not in _ELEMENTS:
        raise _Unsafe(tag)
    attrs = "".join(f' {k}="{v}"' for k, v in sorted(node.attrib.items())
                    if k in _ATTRIBUTES and _VALUE.fullmatch(v))
    if tag == "math":
        attrs = ' display="inline"'
    text = node.text or ""
    if tag in ("mi", "mo", "mtext") and text.startswith("\\"):
        raise _Unsafe(text)  # a command latex2mathml did not know: the fallback reads better
    inner = str(escape(text)) + "".join(_rebuild(child) + str(escape(child.tail or "")) for child in node)
    return f"<{tag}{attrs}>{inner}</{tag}>"


@functools.lru_cache(maxsize=4096)
def mathml(formula: str) -> str | None:
    """``formula`` (LaTeX, without dollars) as safe inline MathML, or None if it does not convert."""
    try:
        root = ElementTree.fromstring(convert(formula))
        return _rebuild(root)
    except Exception:  # noqa: BLE001 - latex2mathml raises many kinds on bad input; any means "not convertible"
        return None


def _sub_sup(m: re.Match[str]) -> str:
    tag = "sup" if m.group(1) == "^" else "sub"
    return f"<{tag}>{m.group(2) if m.group(2) is not None else m.group(3)}</{tag}>"


def _style(m: re.Match[str]) -> str:
    tag = _TAGS.get(m.group(1))
    return f"<{tag}>{m.group(2)}</{tag}>" if tag else m.group(2)


# A web address in already escaped text: no quote or angle bracket can be in it (escaped to
# entities), "&amp;" may; trailing punctuation belongs to the sentence.
_URL = re.compile(r"\bhttps?://(?:[^\s&<>\"'\\]|&amp;)+")
_TRAILING = ".,;:!?)]}"


def _link(m: re.Match[str]) -> str:
    url = m.group(0)
    cut = len(url.rstrip(_TRAILING))
    if ")" in url[cut:] and "(" in url[:cut]:
        cut += 1  # https://en.wikipedia.org/wiki/X_(y) keeps its parenthesis
    url, rest = url[:cut], url[cut:]
    return f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>{rest}'


def _prose(text: str, links: bool = False) -> str:
    html = str(escape(text))
    if "\\" not in text:  # most text has no command: the style passes would find nothing (bench_latex)
        return _URL.sub(_link, html) if links and "://" in text else html
    for _ in range(3):  # nested \textbf{\emph{..}}
        html = STYLE.sub(_style, html)
    html = COMMAND.sub(command, html)
    return _URL.sub(_link, html) if links else html


def _fallback(formula: str) -> str:
    """Today's rendering of a formula: escaped text with <sub>/<sup> (braces only group)."""
    return SCRIPT.sub(_sub_sup, _prose(formula)).replace("{", "").replace("}", "")


def render(text: str | None) -> Markup:
    """Escaped HTML with inline LaTeX made readable: $x^2$ as MathML, \\emph{word}, \\alpha, 10\\%."""
    return _render(text, links=False)


def render_linked(text: str | None) -> Markup:
    """``render``, with the web addresses in the prose as links (nofollow: paper text is not
    an endorsement). For an abstract standing alone, not inside a link (a list's title)."""
    return _render(text, links=True)


def _render(text: str | None, links: bool) -> Markup:
    if not text:
        return Markup("")
    if "$" not in text:  # MATH's lookbehind is tried at every position: 50 µs an abstract (bench_latex)
        return Markup(_prose(text, links))
    out, at = [], 0
    for m in MATH.finditer(text):
        out.append(_prose(text[at:m.start()], links))
        out.append(mathml(m.group(1)) or _fallback(m.group(1)))
        at = m.end()
    out.append(_prose(text[at:], links))
    return Markup("".join(out))
