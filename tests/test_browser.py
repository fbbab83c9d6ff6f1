"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from papertrend.ingest.importer import import_paths
from papertrend.web.app import create_app
from web_helpers import served

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs /usr/bin/chromium for the browser tests (apt-get install chromium chromium-driver)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)")


@pytest.fixture
def live_server(store, settings, shared: Path, tmp_path: Path):
    hostile = tmp_path / "2026-07-31.jsonl"
    hostile.write_text(json.dumps({"id": "2607.00002", "categories": ["cs.CR"], "authors": ["Mallory"],
                                   "title": '<img src=x onerror="document.title=\'pwned\'">'
                                            '<script>window.pwned=1</script>Hostile',
                                   "summary": "<script>window.pwned=2</script> Abstract text."}) + "\n")
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-30.json", shared / "hf-daily" / "2026-07-31.json",
                                   hostile])
    with served(create_app(settings, store)) as base:
        yield base


@contextmanager
def chromium() -> Iterator[Any]:
    """The system's headless Chromium through Playwright (never a browser Playwright downloads)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page():
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        yield context.new_page()


def test_reader_walks_days_and_opens_a_paper(live_server: str, page, shared: Path) -> None:
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server + "/")
    assert page.locator("h1").first.inner_text().startswith("Daily papers")
    page.screenshot(path=str(OUTPUT / "home.png"), full_page=False)

    page.get_by_role("link", name="← Previous day").click()
    page.wait_for_url("**/papers/date/2026-07-30")
    day = json.loads((shared / "hf-daily" / "2026-07-30.json").read_text())
    top = max(day, key=lambda e: e["paper"]["upvotes"])["paper"]
    page.get_by_role("link", name=top["title"], exact=True).first.click()
    page.wait_for_url(f"**/papers/{top['id']}")
    assert page.locator("h1").inner_text() == top["title"]
    assert top["summary"].split(".")[0][:60] in page.locator(".abstract-full").inner_text()
    page.screenshot(path=str(OUTPUT / "paper.png"), full_page=True)
    assert not errors


def test_hostile_title_renders_as_text(live_server: str, page) -> None:
    OUTPUT.mkdir(exist_ok=True)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(live_server + "/papers/2607.00002")
    assert "<script>window.pwned=1</script>" in page.locator("h1").inner_text()
    assert page.evaluate("window.pwned") is None and page.title() != "pwned"
    page.goto(live_server + "/papers/date/2026-07-31")
    assert page.evaluate("window.pwned") is None and page.title() != "pwned"
    assert page.locator("img[src=x]").count() == 0
    page.screenshot(path=str(OUTPUT / "hostile.png"))
    assert not dialogs


def test_phone_width_and_dark_mode(live_server: str, page) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.goto(live_server + "/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px phone"
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(20, 22, 26)"
    page.screenshot(path=str(OUTPUT / "phone-dark.png"))
