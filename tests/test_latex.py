"""LaTeX in paper text: formulas as MathML that stays inert, the rest escaped; plain text for
tab titles and mail."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from papertrend.mathtext import plain
from papertrend.web.latex import render

ALLOWED_TAGS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup", "mfrac",
                "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded",
                "mphantom", "menclose", "merror", "mmultiscripts", "mprescripts", "none", "em", "strong", "sub",
                "sup"}

HOSTILE = [
    r"$\href{javascript:alert(1)}{x}$",
    r"$\style{background:url(https://evil.example/)}{x}$",
    r"$\text{<script>alert(1)</script>}$",
    r"$\text{</math><img src=x onerror=alert(1)>}$",
    r'$\mathrm{x" onload="alert(1)}$',
    r"$\color{red}x$ and $\colorbox{red}{x}$",
    r"$\mathbb{<svg onload=alert(1)>}$",
    r"$x^{<iframe>}$ <script>alert(2)</script>",
    r"$\unknown{<b>}$",
    r"$" + "{" * 200 + "x" + "}" * 200 + "$",
    r"$\frac{a}{$ b $}$",
    r"\emph{<a href=javascript:1>x</a>}",
]


class _Tags(HTMLParser):
    """Every element and attribute a browser would see in the HTML, and whether each closes."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.opened.append(tag)
        self.attrs.update(k for k, _ in attrs)

    def handle_endtag(self, tag: str) -> None:
        self.closed.append(tag)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_formulas_stay_inert(text: str) -> None:
    html = str(render(text))
    seen = _Tags()
    seen.feed(html)
    assert set(seen.opened) <= ALLOWED_TAGS, f"unexpected elements {set(seen.opened) - ALLOWED_TAGS} in {html}"
    assert seen.attrs <= {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
                          "accent", "columnalign", "displaystyle", "minsize", "maxsize", "width"}, html
    # Balanced: every element opened is closed, so the page around it is not swallowed.
    assert sorted(seen.opened) == sorted(seen.closed), html


def test_formulas_become_mathml() -> None:
    html = str(render("SP$^3$ decoding costs $O(n^2)$ with $\\alpha_i$"))
    assert html.count('<math display="inline">') == 3
    assert "<msup><mi>n</mi><mn>2</mn></msup>" in html
    assert "<mi>α</mi>" in html


def test_a_formula_that_does_not_convert_falls_back_to_escaped_text() -> None:
    html = str(render(r"a $\unknownmacro{x}^2$ b"))
    assert "<math" not in html
    assert "<sup>2</sup>" in html and "a " in html and " b" in html


def test_prose_outside_formulas_is_escaped_and_styled() -> None:
    assert str(render(r"\emph{fast} <b>bold</b> 10\% & more")) == (
        "<em>fast</em> &lt;b&gt;bold&lt;/b&gt; 10% &amp; more")
    assert str(render("costs $5 and $10")) == "costs $5 and $10"


def test_plain_text_for_titles_and_mail() -> None:
    assert plain("SP$^3$: Faster $O(n^2)$ with \\alpha") == "SP³: Faster O(n²) with α"
    assert plain(r"\textbf{Bold} <script>") == "Bold <script>"  # text only: the caller escapes
    assert plain(None) == ""


def test_digest_mail_shows_formulas_as_plain_unicode(settings) -> None:
    """Mail clients (Gmail, Outlook) drop MathML: both parts of a digest carry the Unicode text."""
    import email
    from email import policy

    from papertrend.digest.compose import digest
    from papertrend.models import Paper, Subscriber
    from papertrend.periods import parse_date

    paper = Paper(id="2607.00009", title="SP$^3$: Sparse $O(n^2)$ <b>attention</b>",
                  abstract="We reach $\\alpha_1$ with 10\\% less.", list_date="2026-07-31")
    subscriber = Subscriber(id=1, email="r@example.org", status="confirmed", link_secret="s")
    raw = digest(settings, subscriber, parse_date("2026-07-31"), [paper]).raw
    message = email.message_from_bytes(raw, policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "SP³: Sparse O(n²) <b>attention</b>" in text and "10% less" in text
    assert "SP³: Sparse O(n²) &lt;b&gt;attention&lt;/b&gt;" in html
    assert "<math" not in html and "$" not in html
