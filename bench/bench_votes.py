"""Upvotes through the web app, and how soon trending reflects one.

The shared data (tests/fixtures/data/hf-daily) is imported into a temporary SQLite file and
ranked, then served by the production server (`papertrend serve`, uvicorn, one worker per CPU)
on loopback. Measured in the same run:

- votes/s: 32 clients, each its own signed-in account (session and CSRF cookies, the CSRF form
  field), POST /vote as community.js sends it (Accept: application/json), up and down in turn
  over the papers of the latest day, for BENCH_SECONDS each; p50 / p99 and non-200 answers;
- the floor: GET /healthz from 32 clients on the same server, and a cached list page;
- time to rank: one vote on the lowest-ranked paper of the week, then /trending.json polled
  every 20 ms until that paper shows its new rank (and its "upvotes here" part), with
  trending_refresh_seconds at its default (5 s) and at 0.2 s: the delay is the setting plus one
  recompute (timed on its own, in this process, too).

Accounts are made by the benchmark, so the fresh-account damping is off (vote_fresh_account_hours
0); every client is 127.0.0.1, so the burst damping counts a paper's k-th vote as 1/k. The rate
limit per account is raised past what a client can send. Figures only; nothing passes or fails.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from common import ROOT, SHARED, describe_machine, free_port, print_table

from papertrend.accounts.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token, new_csrf_seed, session_value
from papertrend.accounts.signin import add_user
from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store

CLIENTS = 32
TRIALS = 3
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
WORKERS = os.cpu_count() or 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def prepare(tmp: str) -> tuple[str, list[str], list[tuple[str, str]], str]:
    url = f"sqlite:///{tmp}/votes.db"
    settings = load_settings(database_url=url, embed_on_import=False)
    store = open_store(settings)
    import_paths(store, settings, [SHARED / "hf-daily"])
    recompute_trending(store)
    latest = store.papers.latest_list_date()
    assert latest is not None
    papers = [p.id for p in store.papers.in_range(latest, latest, limit=50)]
    browsers = []
    for i in range(CLIENTS + 20):   # 32 voters, 20 more for the time-to-rank votes
        user = add_user(store, f"bench{i}@example.org", "reader")
        seed = new_csrf_seed()
        cookie = f"{CSRF_COOKIE}={seed}; {SESSION_COOKIE}={session_value(settings, user)}"
        browsers.append((cookie, csrf_token(settings, seed)))
    store.close()
    return url, papers, browsers, latest


def start(url: str, refresh: float, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ, PAPERTREND_DATABASE_URL=url, PAPERTREND_PORT=str(port), PAPERTREND_WORKERS=str(WORKERS),
               PAPERTREND_EMBED_ON_IMPORT="false", PAPERTREND_WEB_SENDS_MAIL="false",
               PAPERTREND_VOTES_PER_MINUTE="1000000", PAPERTREND_VOTE_FRESH_ACCOUNT_HOURS="0",
               PAPERTREND_TRENDING_REFRESH_SECONDS=str(refresh), PAPERTREND_PAGE_SIZE="2000")
    with log.open("wb") as err:
        server = subprocess.Popen([sys.executable, "-m", "papertrend.cli", "serve"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            r = c.getresponse()
            # Measured once the search indexes have loaded in the background (they share the CPU).
            if r.status == 200 and json.loads(r.read())["search"]["ready"]:
                time.sleep(1)
                return server, port
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def load(port: int, make: list, seconds: float) -> tuple[int, float, list[float], dict[int, int]]:
    """``len(make)`` clients, each sending its own requests (``make[i](n)`` -> method, path,
    body, headers) on one keep-alive connection for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in make]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.monotonic() < stop:
            method, path, body, headers = make[i](n)
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            latencies[i].append((time.perf_counter() - t0) * 1000)
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1
            n += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(make))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    every = [x for lat in latencies for x in lat]
    return len(every), elapsed, every, statuses


def voter(cookie: str, token: str, papers: list[str], offset: int):  # noqa: ANN201
    def make(n: int) -> tuple[str, str, str, dict[str, str]]:
        paper = papers[(offset + n // 2) % len(papers)]
        body = urlencode({"paper": paper, "action": "up" if n % 2 == 0 else "down", "csrf": token})
        return "POST", "/vote", body, {"Cookie": cookie, "Accept": "application/json",
                                       "Content-Type": "application/x-www-form-urlencoded"}
    return make


def getter(path: str):  # noqa: ANN201
    return lambda n: ("GET", path, None, {})


def trending(port: int) -> dict[str, dict]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/trending.json?window=week")
    data = json.loads(c.getresponse().read())
    c.close()
    return {p["id"]: p for p in data["papers"]}


def time_to_rank(port: int, browser: tuple[str, str], used: set[str]) -> tuple[float, int, int, str]:
    """One vote on the lowest-ranked paper nobody voted on yet (the load above voted only on the
    latest day's papers), then /trending.json until the paper shows the vote."""
    before = trending(port)
    last = max((p for p in before.values() if p["id"] not in used), key=lambda p: p["rank"])
    used.add(last["id"])
    cookie, token = browser
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.monotonic()
    c.request("POST", "/vote", body=urlencode({"paper": last["id"], "action": "up", "csrf": token}),
              headers={"Cookie": cookie, "Accept": "application/json",
                       "Content-Type": "application/x-www-form-urlencoded"})
    assert c.getresponse().status == 200
    while time.monotonic() - t0 < 120:
        now = trending(port).get(last["id"])
        if now and now["score_parts"].get("upvotes here", 0) > 0:
            return time.monotonic() - t0, last["rank"], now["rank"], now["reason"]
        time.sleep(0.02)
    raise SystemExit("the vote did not reach /trending within 2 minutes")


def main() -> None:
    print(describe_machine())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        url, papers, browsers, latest = prepare(tmp)
        print(f"corpus: {SHARED / 'hf-daily'}, prepared in {time.monotonic() - t0:.0f} s; {len(papers)} papers of "
              f"{latest} voted on; {WORKERS} server workers")
        settings = load_settings(database_url=url)
        store = open_store(settings)
        t0 = time.perf_counter()
        recompute_trending(store)
        recompute_ms = (time.perf_counter() - t0) * 1000
        store.close()

        server, port = start(url, 5.0, Path(tmp) / "server.log")
        try:
            rows = []
            for label, make in (("GET /healthz (floor)", [getter("/healthz")] * CLIENTS),
                                (f"GET /papers/date/{latest} (cached)", [getter(f"/papers/date/{latest}")] * CLIENTS),
                                ("POST /vote", [voter(*browsers[i], papers, i) for i in range(CLIENTS)])):
                n, elapsed, lat, statuses = load(port, make, SECONDS)
                rows.append([label, f"{n / elapsed:.0f}", f"{percentile(lat, 0.5):.1f}", f"{percentile(lat, 0.99):.1f}",
                             sum(v for k, v in statuses.items() if k != 200)])
            floor = float(rows[0][1])
            for row in rows:
                row.append(f"{float(row[1]) / floor:.2f}")
            print_table(f"{CLIENTS} clients, {SECONDS:.0f} s each", ["requests", "per s", "p50 ms", "p99 ms", "non-200",
                                                                     "x floor"], rows)
            time.sleep(6)   # the recompute the votes above asked for has run
            used = set(papers)
            defaults = [time_to_rank(port, browsers[CLIENTS + i], used) for i in range(TRIALS)]
        finally:
            server.terminate()
            server.wait(30)
        server, port = start(url, 0.2, Path(tmp) / "server-fast.log")
        try:
            fast = [time_to_rank(port, browsers[CLIENTS + TRIALS + i], used) for i in range(TRIALS)]
        finally:
            server.terminate()
            server.wait(30)
        print_table(f"time from POST /vote to the paper's new rank on /trending (week), {TRIALS} votes each",
                    ["trending_refresh_seconds", "median s", "max s", "rank before -> after (first vote)", "reason"],
                    [[label, f"{percentile([r[0] for r in runs], 0.5):.2f}", f"{max(r[0] for r in runs):.2f}",
                      f"{runs[0][1]} -> {runs[0][2]}", runs[0][3]]
                     for label, runs in (("5 (default)", defaults), ("0.2", fast))])
        print(f"one trending recompute of this corpus, in this process: {recompute_ms:.0f} ms")


if __name__ == "__main__":
    main()
