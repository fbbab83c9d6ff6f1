"""Two web processes on one database (SQLite, and PostgreSQL), 500 upvotes sent to each at once
(the same accounts on both, each several times): the paper ends with exactly one vote per distinct
account. One vote per account is the votes table's primary key, not a read before the write, so no
interleaving of the two processes can count a vote twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from papertrend.accounts.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token, new_csrf_seed, session_value
from papertrend.accounts.signin import add_user
from papertrend.config import Settings
from papertrend.ingest.importer import import_paths
from papertrend.store import open_store
from web_helpers import free_port

ACCOUNTS = 150
VOTES_PER_PROCESS = 500


@pytest.fixture
def two_servers(tmp_path: Path, shared: Path, settings: Settings) -> Iterator[tuple[Settings, list[str]]]:
    settings = settings.replace(embed_on_import=False)
    store = open_store(settings)
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    store.close()
    env = {**os.environ, "PAPERTREND_DATABASE_URL": str(settings.database_url), "PAPERTREND_EMBED_ON_IMPORT": "false",
           "PAPERTREND_WEB_SENDS_MAIL": "false", "PAPERTREND_TRENDING_REFRESH_SECONDS": "0",
           "PAPERTREND_VOTES_PER_MINUTE": "1000"}
    ports = [free_port(), free_port()]
    logs = [(tmp_path / f"serve-{p}.log").open("wb") for p in ports]
    procs = [subprocess.Popen([str(Path(sys.executable).parent / "papertrend"), "serve", "--port", str(p)], env=env,
                              stdout=log, stderr=subprocess.STDOUT) for p, log in zip(ports, logs, strict=True)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 90
        for base, proc in zip(bases, procs, strict=True):
            while True:
                log = tmp_path / f"serve-{base.rsplit(':', 1)[1]}.log"
                assert proc.poll() is None, "a server exited: " + log.read_text()
                assert time.monotonic() < deadline, "a server did not start"
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
        yield settings, bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def test_two_processes_500_votes_each_count_each_account_once(two_servers: tuple[Settings, list[str]]) -> None:
    settings, bases = two_servers
    store = open_store(settings)
    paper = store.papers.in_range("2026-07-31", "2026-07-31", limit=1)[0]
    users = [add_user(store, f"voter{i}@example.org", "reader") for i in range(ACCOUNTS)]
    store.close()
    browsers = []
    for user in users:
        seed = new_csrf_seed()
        browsers.append(({CSRF_COOKIE: seed, SESSION_COOKIE: session_value(settings, user)},
                         csrf_token(settings, seed)))

    def vote(base: str, k: int) -> int:
        cookies, token = browsers[(k * 7 + (0 if base == bases[0] else 3)) % ACCOUNTS]
        r = httpx.post(f"{base}/vote", data={"paper": paper.id, "action": "up", "csrf": token}, cookies=cookies,
                       headers={"accept": "application/json"}, timeout=60)
        return r.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        jobs = [pool.submit(vote, base, k) for k in range(VOTES_PER_PROCESS) for base in bases]
        codes = [j.result() for j in jobs]
    print(f"{len(codes)} votes in {time.monotonic() - started:.1f} s")
    assert codes.count(200) == 2 * VOTES_PER_PROCESS, {c: codes.count(c) for c in set(codes)}
    store = open_store(settings)
    try:
        assert store.community.vote_count(paper.id) == ACCOUNTS
        assert [k for _, k in store.community.vote_series(paper.id)] == ["vote"] * ACCOUNTS
        shown = httpx.get(f"{bases[1]}/papers/{paper.id}.json", timeout=30).json()
        assert shown["upvotes_here"] == ACCOUNTS and shown["upvotes_total"] == paper.upvotes + ACCOUNTS
    finally:
        store.close()
