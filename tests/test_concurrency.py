"""The web process never freezes: a request stuck in the middle of a search does not hold up the
other pages. No timings are asserted: a search is held inside its handler until other requests
have been answered, which can only happen if the event loop and the page threads are free. If
they were not, the test would wait forever; the generous timeouts turn that into a failure."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from papertrend.enrich.embeddings import MODEL_ID, Embedder
from papertrend.ingest.importer import import_paths
from papertrend.enrich.embed import embed_missing
from papertrend.search.hybrid import Searcher
from papertrend.search.vectors import VectorIndex
from papertrend.web.app import SEARCH_THREADS, create_app
from smtp_server import Handler, free_port
from web_helpers import csrf
from web_helpers import served as serve

GUARD = 60.0  # seconds: only reached when something is stuck, and then the test fails


class HeldSearches:
    """Query embedding for the app's Searcher that holds every search at the model until
    released: the search has by then parsed its query and read the full text in SQL."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.release = threading.Event()
        self.inside = threading.Semaphore(0)

    def __call__(self, text: str) -> np.ndarray:
        self.inside.release()
        if not self.release.wait(GUARD):
            raise TimeoutError("the held search was never released")
        return self.embedder.embed_query(text)


@pytest.fixture
def served(store, settings, shared: Path) -> Iterator[tuple[str, HeldSearches]]:
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    embedder = Embedder(max_tokens=128)
    embed_missing(store, embedder, MODEL_ID)
    held = HeldSearches(embedder)
    app = create_app(settings, store)
    searcher = Searcher(store, held, VectorIndex(store, MODEL_ID))
    searcher.index.refresh()  # loaded: every search then asks the model for its query's vector
    app.state.searcher = lambda: searcher
    with serve(app) as base:
        try:
            yield base, held
        finally:
            held.release.set()


def test_pages_are_answered_while_searches_are_stuck(served: tuple[str, HeldSearches]) -> None:
    base, held = served
    results: list[httpx.Response | BaseException] = []

    def search(q: str) -> None:
        try:
            results.append(httpx.get(f"{base}/search", params={"q": q}, timeout=GUARD))
        except httpx.HTTPError as exc:
            results.append(exc)

    # One more search than the search threads: every search thread is stuck, one search waits.
    queries = ["speculative decoding", "video generation", "reasoning", "agents"][: SEARCH_THREADS + 1]
    searches = [threading.Thread(target=search, args=(q,)) for q in queries]
    for t in searches:
        t.start()
    for _ in range(SEARCH_THREADS):
        assert held.inside.acquire(timeout=GUARD), "a search never reached the model"

    # With the searches stuck, other pages (the store, templates, the error handler) still answer.
    with httpx.Client(base_url=base, timeout=GUARD) as client:
        health = client.get("/healthz")
        home = client.get("/")
        day = client.get("/papers/date/2026-07-31.json")
        paper = client.get(f"/papers/{day.json()['papers'][0]['id']}")
        missing = client.get("/nowhere")
    assert health.status_code == 200 and health.json()["ok"]
    assert home.status_code == 200 and "Daily papers" in home.text
    assert day.status_code == 200 and paper.status_code == 200 and "@misc{" in paper.text
    assert missing.status_code == 404 and "Nothing lives at" in missing.text
    assert len(results) == 0  # every search is still stuck: the pages above did not wait for them

    held.release.set()
    for t in searches:
        t.join(GUARD)
    assert [r.status_code if isinstance(r, httpx.Response) else r for r in results] == [200] * len(queries)


class HeldMail(Handler):
    """An SMTP server that takes each message only when released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, GUARD)
        return await super().handle_DATA(server, session, envelope)


def test_subscribing_is_answered_before_the_mail_server_takes_the_mail(store, settings) -> None:
    from aiosmtpd.controller import Controller

    mail = HeldMail()
    controller = Controller(mail, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app = create_app(settings.replace(smtp_host="127.0.0.1", smtp_port=controller.port, mail_rate=0), store)
        with serve(app) as base:
            with httpx.Client(base_url=base, timeout=GUARD) as client:
                answer = client.post("/subscribe", data={"email": "slow@example.org", "frequency": "daily",
                                                         "csrf": csrf(client, "/")})
            assert answer.status_code == 200 and "Check your inbox" in answer.text
            assert mail.arrived.wait(GUARD), "the confirmation was never sent"
            assert mail.messages == []  # the answer above came while the mail server held the mail
            mail.release.set()
            deadline = time.monotonic() + GUARD
            while not mail.messages and time.monotonic() < deadline:
                time.sleep(0.02)
        assert [m["To"] for m in mail.messages] == ["slow@example.org"]
    finally:
        mail.release.set()
        controller.stop()
