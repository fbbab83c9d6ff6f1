"""The research community in headless Chromium: a stranger's upvote leads to sign in and back to
the paper; a reader upvotes from the list without a reload (the count changes, survives a
reload, a double click is one vote), takes it back, submits an arXiv id (answered by the replay
server of recorded arXiv answers), comments, replies and reports; a moderator hides the comment
and then the paper, which leaves the paper page, the daily list, search and the JSON feed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from papertrend.accounts.signin import add_user, new_link
from papertrend.config import Settings
from papertrend.ingest.importer import import_paths
from papertrend.store import Store
from papertrend.web.app import create_app
from replay_server import Replay
from test_browser import OUTPUT, chromium
from web_helpers import free_port, served

pytestmark = pytest.mark.browser

DAY = "2026-07-31"
SUBMITTED = "2202.12139"     # a recorded arXiv entry


@pytest.fixture
def site(store: Store, settings: Settings, shared: Path) -> Iterator[tuple[str, Settings]]:
    import_paths(store, settings, [shared / "hf-daily" / f"{DAY}.json"])
    port = free_port()
    with Replay(shared) as replay:
        site = settings.replace(base_url=f"http://127.0.0.1:{port}", web_sends_mail=False,
                                arxiv_api_url=replay.url + "/api/query", arxiv_min_interval=0.0,
                                submission_max_age_days=100000, trending_refresh_seconds=0.0)
        with served(create_app(site, store), port) as base:
            yield base, site


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _sign_in(page: Any, store: Store, settings: Settings, email: str, next_path: str, role: str = "reader") -> None:
    """Follow an emailed sign-in link (the mail itself is tested in test_browser_accounts.py)."""
    add_user(store, email, role)
    page.goto(new_link(store, settings, email, next_path=next_path))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(".*" + re.escape(next_path.split("#")[0]) + "$"))


def _count(page: Any, paper_id: str) -> int:
    form = page.locator(f'form.votes:has(input[name=paper][value="{paper_id}"])').first
    return int(form.locator(".n").inner_text())


def _vote_button(page: Any, paper_id: str) -> Any:
    return page.locator(f'form.votes:has(input[name=paper][value="{paper_id}"]) button').first


def test_upvote_submit_comment_report_moderate(site: tuple[str, Settings], browser: Any, store: Store) -> None:
    base, settings = site
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []
    reader = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    reader.on("pageerror", lambda e: errors.append(str(e)))
    day = f"{base}/papers/date/{DAY}"
    reader.goto(day)
    paper_id = reader.locator("form.votes input[name=paper]").last.get_attribute("value")
    start = _count(reader, paper_id)

    # A stranger's click leads to sign in, then back to the paper.
    dialogs: list[str] = []
    reader.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _vote_button(reader, paper_id).click()
    reader.wait_for_url(re.compile(r".*/signin\?next=%2Fpapers%2F" + re.escape(paper_id)))
    _sign_in(reader, store, settings, "ada@example.org", f"/papers/{paper_id}")
    assert reader.locator("h1").first.inner_text()

    # Upvote from the list, without a reload; a double click is one vote; it survives a reload.
    reader.goto(day)
    reader.evaluate("window.notReloaded = true")
    _vote_button(reader, paper_id).dblclick()
    reader.wait_for_selector(f'form.votes:has(input[value="{paper_id}"]) button[aria-pressed="true"]')
    assert _count(reader, paper_id) == start + 1
    assert reader.evaluate("window.notReloaded") is True
    reader.wait_for_timeout(300)
    assert store.community.vote_count(paper_id) == 1
    reader.reload()
    assert _count(reader, paper_id) == start + 1
    assert _vote_button(reader, paper_id).get_attribute("aria-pressed") == "true"
    reader.screenshot(path=str(OUTPUT / "community-voted.png"), full_page=False)
    # Undo.
    _vote_button(reader, paper_id).click()
    reader.wait_for_selector(f'form.votes:has(input[value="{paper_id}"]) button[aria-pressed="false"]')
    assert _count(reader, paper_id) == start
    reader.reload()
    assert _count(reader, paper_id) == start and store.community.vote_count(paper_id) == 0

    # Submit an arXiv id.
    reader.get_by_role("link", name="Submit").click()
    reader.locator("#paper").fill(f"https://arxiv.org/abs/{SUBMITTED}v1")
    reader.get_by_role("button", name="Submit").click()
    reader.wait_for_url(f"**/papers/{SUBMITTED}")
    assert "submitted by ada" in reader.locator("main").inner_text()
    assert _vote_button(reader, SUBMITTED).get_attribute("aria-pressed") == "true"
    today = datetime.now(UTC).date().isoformat()
    reader.goto(f"{base}/papers/date/{today}")
    assert reader.locator(f'a[href="/papers/{SUBMITTED}"]').count() == 1

    # Comment, reply, report.
    reader.goto(f"{base}/papers/{SUBMITTED}")
    reader.locator("#comment-body").fill("Does the *method* scale to $n^2$ tokens? <script>window.pwned=1</script>")
    reader.get_by_role("button", name="Comment").click()
    reader.wait_for_selector("article.comment em")
    comment = reader.locator("article.comment").first
    assert "method" in comment.inner_text() and reader.evaluate("window.pwned") is None
    reader.locator("details.reply summary").first.click()
    reader.locator("details.reply textarea").first.fill("Answering myself: yes.")
    reader.locator("details.reply").first.get_by_role("button", name="Reply").click()
    reader.wait_for_selector(".replies article.comment")
    assert "Answering myself" in reader.locator(".replies").inner_text()
    comment_id = reader.locator("article.comment").first.get_attribute("id")[1:]
    first = reader.locator(f"#c{comment_id}")
    first.locator("details summary", has_text="Report").click()
    first.locator("input[name=reason]").first.fill("spam")
    first.get_by_role("button", name="Report").click()
    reader.wait_for_selector("text=The moderators will look at it.")
    assert reader.locator("form.mod").first.is_hidden()            # no moderator buttons for a reader

    # A moderator hides the comment from the queue, then the paper from its page.
    mod = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    mod.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(mod, store, settings, "mod@example.org", "/moderation", role="moderator")
    assert "spam" in mod.locator("main").inner_text()
    item = mod.locator("li.report-item").first
    item.locator("input[name=reason]").fill("spam, per report")
    item.get_by_role("button", name="Hide").click()
    mod.wait_for_selector("text=No open reports.")
    mod.goto(f"{base}/papers/{SUBMITTED}")
    assert "Hidden by the moderators." in mod.locator("#comments").inner_text()
    assert "Does the" not in mod.locator("#comments").inner_text()
    mod.locator("#hide-paper").fill("not a research paper")
    mod.get_by_role("button", name="Hide", exact=True).last.click()
    mod.wait_for_url("**/moderation")
    mod.get_by_role("link", name="Audit log").click()
    log = mod.locator("table.audit").inner_text()
    assert "not a research paper" in log and "spam, per report" in log and "mod" in log
    mod.screenshot(path=str(OUTPUT / "community-audit.png"), full_page=True)

    # Gone for the reader: paper page, daily list, search, and the list's JSON feed.
    reader.goto(f"{base}/papers/{SUBMITTED}")
    assert "No paper with id" in reader.locator("main").inner_text()
    reader.goto(f"{base}/papers/date/{today}")
    assert reader.locator(f'a[href="/papers/{SUBMITTED}"]').count() == 0
    title = store.papers.get(SUBMITTED).title  # type: ignore[union-attr]
    reader.goto(f"{base}/search?q={' '.join(title.split()[:5])}&mode=fulltext")
    assert reader.locator(f'a[href="/papers/{SUBMITTED}"]').count() == 0
    feed = reader.request.get(f"{base}/papers/date/{today}.json").json()
    assert SUBMITTED not in {p["id"] for p in feed["papers"]}
    assert errors == [] and dialogs == []
