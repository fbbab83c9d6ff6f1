"""Many processes, one PostgreSQL database, as a deployment runs them: 2 web processes and 2
workers, a digest run for 2,000 subscribers with a worker SIGKILLed in the middle of sending,
and the job schedule run by both workers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

from conftest import PG_SECRET
from papertrend.config import load_settings
from papertrend.digest.build import build_digests
from papertrend.ingest.importer import import_paths
from papertrend.jobs import JOBS
from papertrend.store import open_store, schema
from pg_server import PgServer
from smtp_server import SmtpSink
from web_helpers import free_port

SUBSCRIBERS = 2000
GUARD = 180.0


def _wait(what: str, ready, timeout: float = GUARD) -> None:
    end = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        time.sleep(0.1)


def test_two_web_and_two_workers_share_one_database(pg_server: PgServer, shared: Path, tmp_path: Path) -> None:
    url = pg_server.url_for(pg_server.database())
    settings = load_settings(database_url=url, secret_key=PG_SECRET, embed_on_import=False)
    store = open_store(settings)
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    with store.write() as conn:
        conn.execute(insert(schema.subscribers), [
            {"email": f"reader{i}@example.org", "status": "confirmed", "frequency": "daily", "topics_json": "[]",
             "authors_json": "[]", "categories_json": "[]", "paused": False, "hard_bounces": 0,
             "created_at": "2026-07-30T00:00:00+00:00", "link_secret": f"secret-{i:06d}-0123456789"}
            for i in range(SUBSCRIBERS)])
    assert build_digests(store, settings, "daily", "2026-07-31")["composed"] == SUBSCRIBERS

    # Remote sources answer 404 at once (a refused connection would be retried for minutes).
    nowhere = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=nowhere.serve_forever, daemon=True).start()
    closed = f"http://127.0.0.1:{nowhere.server_address[1]}"
    with SmtpSink(delay=0.002) as smtp:
        env = dict(os.environ, PAPERTREND_DATABASE_URL=url, PAPERTREND_SECRET_KEY=PG_SECRET,
                   PAPERTREND_SMTP_HOST="127.0.0.1", PAPERTREND_SMTP_PORT=str(smtp.port), PAPERTREND_MAIL_RATE="0",
                   PAPERTREND_MAIL_LEASE_SECONDS="2", PAPERTREND_EMBED_ON_IMPORT="false",
                   PAPERTREND_ARXIV_API_URL=closed, PAPERTREND_OAI_URL=closed, PAPERTREND_HF_ENDPOINT=closed,
                   PAPERTREND_GITHUB_API_URL=closed, PAPERTREND_THUMBNAIL_ORIGIN=closed,
                   PAPERTREND_ARXIV_MIN_INTERVAL="0", PAPERTREND_SNAPSHOT_DIR=str(tmp_path / "snapshots"),
                   PAPERTREND_THUMBNAIL_DIR=str(tmp_path / "thumbnails"),
                   PAPERTREND_HF_MIN_INTERVAL="0")
        cli = [sys.executable, "-m", "papertrend.cli"]
        logs = Path(os.environ.get("PG_PROC_LOGS", tmp_path / "logs"))
        logs.mkdir(exist_ok=True)
        procs: dict[str, subprocess.Popen[bytes]] = {}

        def start(name: str, *args: str) -> None:
            with open(logs / f"{name}.log", "wb") as log:
                procs[name] = subprocess.Popen([*cli, *args], env=env, stdout=log, stderr=subprocess.STDOUT)

        ports = [free_port(), free_port()]
        try:
            for i, port in enumerate(ports):
                start(f"web{i}", "serve", "--port", str(port))
            start("worker0", "worker")
            start("worker1", "worker")
            # Kill a worker while mail goes out: some sent, most not yet.
            _wait("the first 300 digests", lambda: len(smtp.handler.messages) >= 300)
            procs["worker0"].send_signal(signal.SIGKILL)
            procs["worker0"].wait()
            kills = 1
            assert len(smtp.handler.messages) < SUBSCRIBERS, "the kill came after the sending: not a test of it"

            def unsent() -> int:
                with store.read() as conn:
                    return int(conn.execute(select(func.count()).select_from(schema.outbox)
                                            .where(schema.outbox.c.status != "sent")).scalar_one())
            _wait("every digest sent", lambda: unsent() == 0)
            _wait("every job run once", lambda: _jobs_run(store) == {spec.name for spec in JOBS}, 60)

            # The web processes answered throughout.
            for port in ports:
                _wait(f"web on {port}", lambda p=port: _answers(p))
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    assert client.get("/").status_code == 200
                    assert client.get("/papers/date/2026-07-31.json").json()["papers"]
        finally:
            nowhere.shutdown()
            nowhere.server_close()
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

        per = Counter(m["To"] for m in smtp.handler.messages)
        ids: dict[str, set[str]] = {}
        for m in smtp.handler.messages:
            ids.setdefault(m["To"], set()).add(m["Message-ID"])
    assert len(per) == SUBSCRIBERS  # nobody missed
    duplicates = sum(n - 1 for n in per.values())
    assert duplicates <= kills  # at most the message in flight when the sender died ...
    assert all(len(v) == 1 for v in ids.values())  # ... and then the very same message again

    # Both workers ran the schedule at once: every job ran for its slot exactly once.
    with store.read() as conn:
        runs = conn.execute(select(schema.job_runs.c.job, schema.job_runs.c.scheduled_for, schema.job_runs.c.worker)
                            .where(schema.job_runs.c.scheduled_for.is_not(None))).all()
    store.close()
    slots = Counter((job, slot) for job, slot, _ in runs)
    assert {job for job, _ in slots} == {spec.name for spec in JOBS}
    assert all(n == 1 for n in slots.values()), [k for k, n in slots.items() if n > 1]
    assert len({worker for _, _, worker in runs}) <= 2


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _jobs_run(store) -> set[str]:
    with store.read() as conn:
        # Started counts: the killed worker's run stays unfinished (its lease holds the job until
        # it expires), and no other worker runs that slot meanwhile.
        return set(conn.execute(select(schema.job_runs.c.job).distinct()).scalars())


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
