"""The account journey in headless Chromium, with real mail: sign in by the emailed link,
manage the digest from the account page, sign out; the operator's outbox stays out of reach."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from papertrend.config import Settings
from papertrend.ingest.importer import import_paths
from papertrend.store import Store
from papertrend.web.app import create_app
from smtp_server import SmtpSink
from test_browser import OUTPUT, page  # noqa: F401 - the page fixture
from web_helpers import free_port, served

pytestmark = pytest.mark.browser


@pytest.fixture
def mailed_site(store: Store, settings: Settings, shared: Path) -> Iterator[tuple[str, SmtpSink]]:
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    port = free_port()
    with SmtpSink() as smtp:
        site = settings.replace(base_url=f"http://127.0.0.1:{port}", smtp_host="127.0.0.1", smtp_port=smtp.port,
                                mail_rate=0, smtp_timeout=5)
        with served(create_app(site, store), port) as base:
            yield base, smtp


def test_sign_in_manage_digest_sign_out(mailed_site: tuple[str, SmtpSink], page, store: Store) -> None:  # noqa: F811
    base, smtp = mailed_site
    OUTPUT.mkdir(exist_ok=True)
    page.goto(base + "/outbox")
    assert "/signin" in page.url  # strangers are sent to sign in, and see no mail

    page.goto(base + "/")
    page.get_by_role("link", name="Sign in").click()
    page.locator("#signin-email").fill("reader@example.org")
    page.get_by_role("button", name="Email me a sign-in link").click()
    page.wait_for_selector("text=Check your inbox")
    smtp.wait_for(1)
    mail = smtp.handler.to("reader@example.org")[-1]
    link = re.search(r"http://\S+/signin/link\?token=\S+", mail.get_body(preferencelist=("plain",)).get_content())
    assert link, "no sign-in link in the mail"

    page.goto(link.group(0))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account")
    assert "reader@example.org" in page.locator("main").inner_text()
    page.locator("#a-frequency").select_option("weekly")
    page.locator("#a-topics").fill("world models")
    page.get_by_role("button", name="Get the digest").click()
    page.wait_for_selector("text=Saved.")
    subscriber = store.digests.by_email("reader@example.org")
    assert subscriber is not None and subscriber.status == "confirmed" and subscriber.frequency == "weekly"
    assert subscriber.topics == ["world models"]
    page.screenshot(path=str(OUTPUT / "account.png"), full_page=True)

    page.goto(base + "/outbox")
    assert "not allowed" in page.locator("main").inner_text()  # a reader is not an operator

    page.goto(base + "/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(base + "/")
    page.goto(base + "/account")
    assert "/signin" in page.url
