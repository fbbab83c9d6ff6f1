"""A reader's day in headless Chromium (issue 14): navigation, complete lists, formulas, the paper
page, subscribing, and the polish a careful product has. Desktop 1366 px and phone 390 px."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from papertrend.digest import links, subscribe as sub
from papertrend.ingest.importer import import_paths
from papertrend.web.app import create_app
from test_browser import chromium
from web_helpers import served

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
MANY_AUTHORS = [f"Author Number{i}" for i in range(120)]
FORMULA_TITLE = "SP$^3$: Sparse $O(n^2)$ attention"


@pytest.fixture
def site(store, settings, shared: Path, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    extra = tmp_path / "2026-07-31.jsonl"
    extra.write_text(json.dumps({
        "id": "2607.00003", "categories": ["cs.LG"], "authors": MANY_AUTHORS, "title": FORMULA_TITLE,
        "summary": "We cut the cost. Code: https://github.com/example/sp3. " + "A long abstract sentence. " * 30,
    }) + "\n")
    days = [shared / "hf-daily" / f"2026-07-{d}.json" for d in ("28", "29", "30", "31")]
    import_paths(store, settings, days + [extra])
    settings = settings.replace(page_size=10)
    with served(create_app(settings, store)) as base:
        yield base, settings


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _page(browser: Any, viewport: dict[str, int] = DESKTOP, dark: bool = False) -> Any:
    context = browser.new_context(viewport=viewport, color_scheme="dark" if dark else "light")
    return context.new_page()


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# -- 1. navigation ----------------------------------------------------------------------------

def test_header_links_lead_to_weeks_and_months_from_every_page(site, browser) -> None:
    base, _ = site
    page = _page(browser)
    for path in ("/trending", "/search?q=agents", "/papers/2607.00003", "/"):
        page.goto(base + path)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Weekly").click()
        page.wait_for_url("**/papers/week/2026-W31")
        assert page.locator("h1").first.inner_text().startswith("Weekly papers")
        current = page.get_by_role("navigation", name="Main").locator("[aria-current=page]")
        assert current.inner_text() == "Weekly"
        page.goto(base + path)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Monthly").click()
        page.wait_for_url("**/papers/month/2026-07")
    page.goto(base + "/trending")
    assert page.get_by_role("navigation", name="Main").locator("[aria-current=page]").inner_text() == "Trending"


def test_no_next_into_the_future_and_a_way_back_from_empty_periods(site, browser) -> None:
    base, _ = site
    page = _page(browser)
    page.goto(base + "/")
    assert page.get_by_role("link", name="Next day →").count() == 0
    assert page.get_by_role("link", name="← Previous day").count() == 1
    # The newest day is months old: the home page says how old its data is.
    assert "Data as of 2026-07-31" in page.locator(".asof").inner_text()
    page.goto(base + "/papers/week/2026-W31")
    assert page.get_by_role("link", name="Next week →").count() == 0
    page.goto(base + "/papers/week/2026-W40")
    assert "No papers in this week" in page.locator(".empty").inner_text()
    page.locator(".empty").get_by_role("link").first.click()
    page.wait_for_url("**/papers/week/2026-W31")
    page.goto(base + "/papers/month/2026-10")
    page.locator(".empty").get_by_role("link").first.click()
    page.wait_for_url("**/papers/month/2026-07")


def test_week_and_month_pickers(site, browser) -> None:
    base, _ = site
    page = _page(browser)
    page.goto(base + "/papers/week/2026-W31")
    picker = page.locator("input#week")
    assert picker.get_attribute("type") == "week"
    picker.fill("2026-W30")
    page.get_by_role("button", name="Go").click()
    page.wait_for_url("**/papers/week/2026-W30")
    page.goto(base + "/papers/month/2026-07")
    assert page.locator("input#month").get_attribute("type") == "month"
    # The no-JS, no-picker fallback: a typed value in the plain GET form.
    page.goto(base + "/papers/month?month=2026-07")
    assert page.url.endswith("/papers/month/2026-07")
    page.goto(base + "/papers/week?week=2026-07-29")
    assert page.url.endswith("/papers/week/2026-W31")


# -- 2. complete lists -------------------------------------------------------------------------

def test_a_day_shows_its_total_and_pages_through_all_of_it(site, browser, store) -> None:
    base, _ = site
    total = store.papers.count_in_range("2026-07-31", "2026-07-31")
    assert total > 10
    page = _page(browser)
    page.goto(base + "/papers/date/2026-07-31")
    assert f"{total} papers" in page.locator(".count").inner_text()
    seen: list[str] = []
    while True:
        seen += page.locator("ol.papers h2 a").all_inner_texts()
        nxt = page.locator("nav.pages").get_by_role("link", name="Next →")
        if nxt.count() == 0:
            break
        nxt.click()
        page.wait_for_load_state()
    assert len(seen) == total and len(set(seen)) == total
    data = json.loads(page.context.request.get(base + "/papers/date/2026-07-31.json?page=2").text())
    assert data["pagination"]["total"] == total and data["pagination"]["page"] == 2
    assert data["pagination"]["next_page"] == (3 if total > 20 else None)


# -- 3. formulas -------------------------------------------------------------------------------

def test_formulas_render_as_mathml_and_tab_titles_as_text(site, browser) -> None:
    base, _ = site
    page = _page(browser)
    page.goto(base + "/papers/2607.00003")
    assert page.locator("h1 math msup").count() >= 2
    assert "$" not in page.locator("h1").inner_text()
    assert page.title().startswith("SP³: Sparse O(n²) attention")
    pages = json.loads(page.context.request.get(base + "/papers/date/2026-07-31.json").text())["pagination"]["pages"]
    page.goto(base + f"/papers/date/2026-07-31?view=compact&page={pages}")  # no upvotes: last
    assert page.locator("ol.papers math").count() >= 1


# -- 6. the paper page -------------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_paper_page_leads_with_the_paper(site, browser, viewport) -> None:
    base, _ = site
    page = _page(browser, viewport)
    page.goto(base + "/papers/2607.00003")
    more = page.locator("details.more-authors summary")
    assert more.inner_text() == f"and {len(MANY_AUTHORS) - 8} more"
    # The abstract starts within the first screen, even on a phone with 120 authors.
    top = page.locator("#abstract-h").bounding_box()["y"]
    assert top < viewport["height"], f"abstract starts at {top}px"
    assert page.get_by_role("link", name=MANY_AUTHORS[-1], exact=True).is_visible() is False
    more.click()
    assert page.get_by_role("link", name=MANY_AUTHORS[-1], exact=True).is_visible()
    # No trending section without trending data (it used to be an empty heading with a dot).
    assert page.locator("#trend-h").count() == 0
    link = page.locator(".abstract-full a", has_text="https://github.com/example/sp3")
    assert link.get_attribute("href") == "https://github.com/example/sp3"
    assert "nofollow" in link.get_attribute("rel") and "noopener" in link.get_attribute("rel")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.get_by_role("link", name=MANY_AUTHORS[0], exact=True).click()
    page.wait_for_url("**/authors/**")
    assert page.locator("h1").inner_text().startswith(MANY_AUTHORS[0])
    assert page.get_by_role("link", name=re.compile("SP")).count() == 1



# -- 7. subscribe ------------------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_subscribe_is_near_the_top_once_and_not_where_it_confuses(site, browser, store, viewport) -> None:
    base, settings = site
    page = _page(browser, viewport)
    page.goto(base + "/papers/date/2026-07-31")
    forms = page.locator("form[action='/subscribe']")
    assert forms.count() == 1
    assert forms.bounding_box()["y"] < 300
    sub.subscribe(store, settings, "reader@example.org", "weekly", "speculative decoding, world models",
                  "Ada Lovelace", "cs.CL", "127.0.0.1")
    subscriber = store.digests.by_email("reader@example.org")
    page.goto(links.link(settings, "/subscribe/confirm", "confirm", subscriber).replace(settings.base_url, base))
    text = page.locator("main").inner_text()
    assert "speculative decoding, world models" in text and "Ada Lovelace" in text and "cs.CL" in text
    assert page.locator("form[action='/subscribe']").count() == 0
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name="change what you receive").click()
    assert page.locator("form[action='/subscribe']").count() == 0
    assert "any one" in page.locator(".combine").first.inner_text()
    save = page.get_by_role("button", name="Save").bounding_box()
    unsub = page.get_by_role("button", name="Unsubscribe")
    assert unsub.bounding_box()["y"] - (save["y"] + save["height"]) > 40  # stands apart from Save
    assert page.evaluate("getComputedStyle(document.querySelector('button.danger')).color") != \
        page.evaluate("getComputedStyle(document.querySelector('form.prefs button')).color")
    page.get_by_role("button", name="Pause instead").click()
    assert "paused" in page.locator("main").inner_text()
    assert store.digests.by_email("reader@example.org").paused
    assert store.digests.by_email("reader@example.org").topics == ["speculative decoding", "world models"]


# -- 8. polish ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_contrast_focus_and_small_things(site, browser, dark) -> None:
    base, _ = site
    page = _page(browser, dark=dark)
    page.goto(base + "/search?q=agents")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    border = page.evaluate("getComputedStyle(document.querySelector('#q')).borderTopColor")
    assert _contrast(border, bg) >= 3, f"form border {border} on {bg}"
    page.focus("#sort")
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    marks = page.locator("mark")
    if marks.count():
        mark_bg = marks.first.evaluate("e => getComputedStyle(e).backgroundColor")
        mark_fg = marks.first.evaluate("e => getComputedStyle(e).color")
        assert _contrast(mark_bg, mark_fg) >= 4.5 and _contrast(mark_bg, bg) < 10
    icon = page.context.request.get(base + "/favicon.ico")
    assert icon.status == 200 and "svg" in icon.headers["content-type"]
    page.goto(base + "/papers/2607.00003")
    fits = page.evaluate("(() => { const t = document.querySelector('#bibtex');"
                         " return t.scrollHeight <= t.clientHeight + 2 })()")
    assert fits, "the BibTeX box cuts its last lines"
    page.goto(base + "/papers/date/2026-07-31")
    assert not re.search(r"\b1 comments\b", page.locator("main").inner_text())


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_score_bar_parts_have_3_to_1_contrast_and_letters_on_trending(site, browser, store, dark) -> None:
    from papertrend.rank.recompute import recompute_trending

    base, _ = site
    recompute_trending(store)   # the data is old: the windows end at its latest day
    page = _page(browser, dark=dark)
    page.goto(base + "/trending?window=month")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    bars = page.locator("svg.bar")
    assert bars.count() > 0
    for part in ("velocity", "stars", "upvotes", "local", "comments"):
        fill = page.evaluate(f"""(() => {{ const g = document.createElementNS('http://www.w3.org/2000/svg', 'g');
            g.setAttribute('class', 'part-{part}'); document.querySelector('svg.bar').appendChild(g);
            const f = getComputedStyle(g).fill; g.remove(); return f }})()""")
        assert _contrast(fill, bg) >= 3, f"{part} part {fill} on {bg}"
    assert set(page.locator("svg.bar text").all_text_contents()) <= {"V", "S", "U", "H", "C"}
    assert page.locator("svg.bar text").count() > 0
    letters = page.locator(".legend li").evaluate_all("ls => ls.map(l => getComputedStyle(l, '::before').content)")
    assert letters == ['"V"', '"S"', '"U"', '"H"', '"C"']   # H: upvotes cast here


def test_score_bar_parts_carry_letters_and_contrast(store, settings) -> None:
    from papertrend.web.charts import score_bar, sparkline

    bar = str(score_bar({"star velocity": 2.0, "stars": 1.0, "upvotes": 1.0, "upvotes here": 1.0, "comments": 0.0},
                        5.0, 5.0))
    assert [m for m in re.findall(r">([VSUHC])</text>", bar)] == ["V", "S", "U", "H"]
    spark = str(sparkline([("2026-07-01", 10), ("2026-07-15", 250)]))
    assert "10 → 250" in re.sub(r"<[^>]+>", "", spark)  # visible numbers, not only a hover title
    assert "<svg" not in str(sparkline([("2026-07-01", 10)]))  # no lone dot


# -- thumbnails and the titles-only mode ---------------------------------------------------------

@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_thumbnails_load_from_the_site_and_titles_only_mode(store, settings, shared: Path, tmp_path: Path, browser,
                                                            viewport) -> None:
    from test_thumbnails import PNG

    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    settings = settings.replace(thumbnail_dir=str(tmp_path / "thumbs"))
    (tmp_path / "thumbs").mkdir()
    top = store.papers.in_range("2026-07-31", "2026-07-31", limit=1)[0]
    (tmp_path / "thumbs" / f"{top.id}.png").write_bytes(PNG)
    store.papers.record_thumbnail(top.id, "https://cdn.example/t.png", f"{top.id}.png", None, "2026-08-01T00:00:00")
    with served(create_app(settings, store)) as base:
        page = _page(browser, viewport)
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(base + "/papers/date/2026-07-31")
        img = page.locator("ol.papers img.thumb").first
        assert img.get_attribute("src") == f"/thumbnails/{top.id}.png"
        if viewport is DESKTOP:
            img.scroll_into_view_if_needed()
            page.wait_for_function("document.querySelector('img.thumb').complete")
            assert img.evaluate("i => i.naturalWidth") == 16  # loaded under the CSP, from this site
        else:
            assert not img.is_visible()  # a phone's width goes to the text
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        full = page.evaluate("document.documentElement.scrollHeight")
        page.get_by_role("link", name="Titles only").click()
        page.wait_for_url("**view=compact")
        assert page.locator("img.thumb").count() == 0 and page.locator("p.abstract").count() == 0
        assert page.evaluate("document.documentElement.scrollHeight") < full / 2
        page.goto(base + "/papers/week")  # the choice is remembered on the next list, without ?view=
        assert page.locator("ol.papers.compact").count() == 1 and page.locator("p.abstract").count() == 0
        page.get_by_role("link", name="Show abstracts").click()
        assert page.locator("p.abstract").count() > 0
        page.goto(base + "/papers/date/2026-07-31")
        assert page.locator("p.abstract").count() > 0 and page.locator("ol.papers.compact").count() == 0
        assert not failed
