"""Trending in headless Chromium: the month is not the week again, the category picker names
categories, a filtered list is numbered 1, 2, 3... and pages on, and cs.CV fills once the arXiv
metadata job has given the Hugging Face papers their categories."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from papertrend.ingest.importer import import_paths
from papertrend.jobs import fill_metadata
from papertrend.rank.recompute import recompute_trending
from papertrend.web.app import create_app
from replay_server import Replay
from test_browser import OUTPUT, page  # noqa: F401 - the Chromium page fixture
from test_categories import HF_DAYS
from web_helpers import served

pytestmark = pytest.mark.browser


def _titles(pg) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.strip() for t in pg.locator("ol.papers h2").all_inner_texts()]


def test_windows_picker_and_category_filter(page, store, settings, shared: Path) -> None:  # noqa: F811
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    import_paths(store, settings.replace(embed_on_import=False),
                 [shared / "hf-daily" / f"{d}.json" for d in HF_DAYS])
    recompute_trending(store)
    with Replay(shared) as replay, served(create_app(settings, store)) as base:
        page.goto(base + "/trending?window=week")
        week = _titles(page)
        page.get_by_role("link", name="This month").click()
        page.wait_for_url("**window=month**")
        month = _titles(page)
        assert len(week) == len(month) == 50
        assert len(set(week[:10]) & set(month[:10])) < 8, "the month's top 10 should not be the week's again"

        # Before the metadata job: no category is known; a filtered empty list says so plainly.
        # (not the URL the picker leads to later: the browser would keep this answer for a minute)
        page.goto(base + "/trending?category=cs.CV&window=month")
        empty = page.locator("section.empty").inner_text()
        assert "cs.CV" in empty and "recompute" not in empty
        page.get_by_role("link", name="Show every category").click()
        assert len(_titles(page)) == 50

        remote = settings.replace(arxiv_api_url=replay.url + "/api/query", arxiv_min_interval=0.0,
                                  embed_on_import=False)
        counts = fill_metadata(store, remote)
        assert counts["filled"] > 0
        time.sleep(1.1)  # pages follow the store's data version, re-read at most once a second

        page.goto(base + "/trending?window=month")
        page.reload()  # the browser keeps a page for a minute (max-age=60); a reload asks again
        picker = page.get_by_label("Category")
        names = picker.locator("option").all_inner_texts()
        assert any(n.startswith("cs.CV — Computer Vision and Pattern Recognition") for n in names)
        assert any(n.startswith("cs.CL — Computation and Language") for n in names)
        picker.select_option("cs.CV")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**category=cs.CV**")
        ranks = [int(r) for r in page.locator(".rankno").all_inner_texts()]
        assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) == 50
        assert "cs.CV — Computer Vision and Pattern Recognition" in page.locator("p.count").inner_text()
        page.screenshot(path=str(OUTPUT / "trending-cs-cv.png"), full_page=False)
        page.get_by_role("link", name="Next →").click()
        page.wait_for_url("**page=2**")
        more = [int(r) for r in page.locator(".rankno").all_inner_texts()]
        assert more and more[0] == 51 and "category=cs.CV" in page.url
    assert not errors
