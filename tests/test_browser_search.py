"""The search page in headless Chromium: sorts that keep to the papers found, a count and pages,
the passage around the match, LaTeX rendered as on every other page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from papertrend.web.app import create_app
import test_browser
from search_papers import LATEX_PAPER
from web_helpers import served

pytest_plugins = ["search_corpus"]  # the corpus and embedder fixtures
page = test_browser.page  # the Chromium page fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def live_search(corpus, settings) -> Iterator[str]:
    app = create_app(settings, corpus)
    with served(app) as base:
        app.state.searcher().warm().join(60)  # as a worker is once its indexes are loaded
        yield base


def _search(page, base: str, q: str, **fields: str) -> None:
    page.goto(base + "/search")
    page.get_by_label("Words or a description").fill(q)
    for name, value in fields.items():
        page.locator(f"#{name}").select_option(value)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?*")


def _titles(page) -> list[str]:
    return page.locator("ol.papers h2").all_inner_texts()


def test_sorting_by_upvotes_keeps_to_the_papers_about_the_query(live_search: str, page) -> None:
    _search(page, live_search, "speculative decoding", sort="upvotes")
    entries = page.locator("ol.papers li.paper")
    assert entries.count() > 3
    for i in range(3):  # the most upvoted papers about speculative decoding, not the most upvoted papers
        text = entries.nth(i).inner_text().lower()
        assert "speculative" in text and "decod" in text, text[:200]
    votes = [int(n) for n in page.locator("ol.papers .votes .n").all_inner_texts()]
    assert votes == sorted(votes, reverse=True)


def test_results_have_a_count_and_pages(live_search: str, page) -> None:
    _search(page, live_search, "language model")
    count = page.locator(".search-summary .count").inner_text()
    total = int(re.match(r"([\d,]+) papers", count).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert total > 30 and len(_titles(page)) == 30
    first_page = _titles(page)
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2*")
    assert page.locator("ol.papers").get_attribute("start") == "31"
    assert not set(_titles(page)) & set(first_page)
    assert page.locator(".search-summary .count").inner_text() == count


def test_results_show_latex_rendered_and_the_passage_that_matched(live_search: str, page) -> None:
    _search(page, live_search, "half-quadratic splitting spherical priors")
    entry = page.locator("ol.papers li.paper", has=page.locator(f'a[href="/papers/{LATEX_PAPER}"]'))
    title = entry.locator("h2")
    assert "Spherical Priors" in title.inner_text() and "$" not in title.inner_text()
    assert title.locator("math msup").count() == 1  # MathML, as on every page
    abstract = entry.locator(".abstract").inner_text()
    assert "Half-Quadratic Splitting" in abstract and not abstract.startswith("In this paper")
    assert "$" not in abstract
    assert entry.locator(".abstract mark").count() >= 2


def test_nonsense_says_nothing_matches(live_search: str, page) -> None:
    _search(page, live_search, "qwzx vbnmkj plokijuh")
    assert page.locator("ol.papers li").count() == 0
    assert "No papers match" in page.locator(".search-summary").inner_text()
