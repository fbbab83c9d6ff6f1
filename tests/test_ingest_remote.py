"""arXiv, OAI-PMH and Hugging Face ingestion against a local replay server, faults included;
the politeness limit with an injected clock and across two processes; the worker's schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from papertrend.errors import RemoteError, SourceError
from papertrend.jobs import ingest_hf, ingest_oai
from papertrend.ingest.harvest import fetch_arxiv_ids, harvest_arxiv
from papertrend.ingest.polite import PoliteClient
from papertrend.worker import Job, Worker
from replay_server import Replay


@pytest.fixture
def replay(shared: Path):
    with Replay(shared) as r:
        yield r


@pytest.fixture
def remote(settings, replay: Replay):
    return settings.replace(arxiv_api_url=replay.url + "/api/query", oai_url=replay.url + "/oai",
                            hf_endpoint=replay.url, arxiv_min_interval=0.0, hf_min_interval=0.0,
                            embed_on_import=False)


_open: list[PoliteClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _open:
        _open.pop().close()


def client(store, settings, name="arxiv", **kw) -> PoliteClient:
    kw.setdefault("sleep", lambda s: None)
    c = PoliteClient(store, settings, name, settings.arxiv_min_interval, **kw)
    _open.append(c)
    return c


def test_cli_ingest_all_three(run_cli, replay: Replay, store, shared: Path) -> None:
    env = {"PAPERTREND_ARXIV_API_URL": replay.url + "/api/query", "PAPERTREND_OAI_URL": replay.url + "/oai",
           "PAPERTREND_HF_ENDPOINT": replay.url, "PAPERTREND_ARXIV_MIN_INTERVAL": "0",
           "PAPERTREND_EMBED_ON_IMPORT": "false", "PAPERTREND_CONTACT_EMAIL": "ops@example.org"}
    out = run_cli("ingest", "arxiv", "--categories", "cs.LG,cs.CL", "--since", "2026-07-01", "--until", "2026-07-01",
                  env=env).stdout
    assert "new 100" in out
    first = replay.log[0]["query"]
    assert first["search_query"] == "(cat:cs.LG OR cat:cs.CL) AND submittedDate:[202607010000 TO 202607012359]"
    assert first["sortBy"] == "submittedDate" and int(first["max_results"]) <= 2000
    assert "new 6" in run_cli("ingest", "oai", "--set", "physics:hep-th", "--from", "2017-12-01", env=env).stdout
    assert replay.log[-1]["query"] == {"verb": "ListRecords", "resumptionToken": "page2"}
    out = run_cli("ingest", "hf", "--date", "2026-07-31", env=env).stdout
    n = len(json.loads((shared / "hf-daily" / "2026-07-31.json").read_text()))
    assert f"new {n}" in out and store.papers.get("2607.28624").upvotes == 145
    assert "unchanged" in run_cli("ingest", "hf", "--since", "2026-07-30", "--until", "2026-07-31", env=env).stdout
    runs = json.loads(run_cli("jobs", "list", "--json").stdout)
    assert runs == []  # ingest commands are recorded as import runs, the worker's as job runs
    assert {r.kind for r in store.runs.ingest_runs()} >= {"arxiv", "oai", "hf"}


def test_paging_and_resume_after_a_failure(store, remote, replay: Replay) -> None:
    # Page 3 keeps failing: the harvest stops with an error naming the request, keeps pages 1-2.
    pc = client(store, remote, max_wait=3)
    replay.fault("/api/query", "", "", "503", "503", "503", "503", "503")  # "": no fault
    with pytest.raises(RemoteError, match=r"start=40.*gave up|gave up") as info:
        harvest_arxiv(store, remote, pc, ["cs.LG"], date(2026, 7, 1), date(2026, 7, 1), page_size=20)
    assert "/api/query?" in str(info.value)
    assert store.papers.count() == 40
    replay.faults["/api/query"].clear()
    replay.log.clear()
    summary = harvest_arxiv(store, remote, client(store, remote), ["cs.LG"], date(2026, 7, 1), date(2026, 7, 1),
                            page_size=20)
    assert [int(r["query"]["start"]) for r in replay.log] == [40, 60, 80]  # resumed, nothing fetched twice
    assert summary.new == 60 and store.papers.count() == 100


@pytest.mark.parametrize("fault", ["503", "drop", "slow", "cut"])
def test_transient_faults_are_retried(store, remote, replay: Replay, fault: str) -> None:
    replay.fault("/api/query", fault)
    pc = client(store, remote, timeout=0.5)
    summary = harvest_arxiv(store, remote, pc, ["cs.LG"], date(2026, 7, 1), date(2026, 7, 1), page_size=50)
    assert summary.new == 100 and len(replay.log) == 3  # the fault, its retry, the second page


def test_truncated_document_is_reported_and_nothing_damaged(store, remote, replay: Replay) -> None:
    harvest_arxiv(store, remote, client(store, remote), ["cs.LG"], date(2026, 7, 1), date(2026, 7, 1), page_size=50)
    count = store.papers.count()
    replay.fault("/api/query", "", "truncate")  # the second page's document is cut in half
    with pytest.raises(SourceError, match=r"/api/query\?.*start=50.*not well-formed"):
        harvest_arxiv(store, remote, client(store, remote), ["cs.LG"], date(2026, 7, 2), date(2026, 7, 2), page_size=50)
    assert store.papers.count() == count


def test_empty_page_in_the_middle_is_retried_then_reported(store, remote, replay: Replay) -> None:
    replay.fault("/api/query", "", "empty")  # the second page comes back empty once
    summary = harvest_arxiv(store, remote, client(store, remote), ["cs.LG"], date(2026, 7, 1), date(2026, 7, 1),
                            page_size=50)
    assert summary.new == 100
    replay.fault("/api/query", "empty", "empty", "empty", "empty")
    with pytest.raises(RemoteError, match="empty page at 0 of 100"):
        harvest_arxiv(store, remote, client(store, remote), ["cs.CV"], date(2026, 7, 2), date(2026, 7, 2))


def test_html_error_page_and_missing_ids(store, remote, replay: Replay) -> None:
    replay.fault("/api/daily_papers", "html")
    with pytest.raises(SourceError, match="HTML page"):
        ingest_hf(store, remote, since=date(2026, 7, 31), until=date(2026, 7, 31))
    replay.fault("/api/query", "html")
    with pytest.raises(SourceError, match=r"/api/query\?.*not well-formed|expected an Atom"):
        fetch_arxiv_ids(store, remote, client(store, remote), ["2202.12139"])
    summary = fetch_arxiv_ids(store, remote, client(store, remote), ["2202.12139", "2999.99999"])
    assert any("no entry for 2999.99999" in e for e in summary.errors)


def test_oai_expired_token_restarts_once(store, remote, replay: Replay) -> None:
    store.coordination.set_cursor("oai:physics:hep-th:2017-12-01:", {"token": "expired-token"})
    counts = ingest_oai(store, remote, "physics:hep-th", date(2017, 12, 1))
    assert counts["new"] == 6
    assert store.coordination.get_cursor("oai:physics:hep-th:2017-12-01:") is None


def test_spacing_with_an_injected_clock(store, remote, replay: Replay) -> None:
    """Three requests by a client that keeps arXiv's 3 s: the fake clock shows the spacing."""
    clock = [1000.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    pc = PoliteClient(store, remote, "arxiv", 3.0, sleep=sleep, clock=lambda: clock[0])
    _open.append(pc)
    starts = []
    for _ in range(3):
        pc._acquire()
        starts.append(clock[0])
        clock[0] += 0.4  # the request takes 0.4 s
        pc._release()
    assert [round(b - a, 2) for a, b in zip(starts, starts[1:], strict=False)] == [3.4, 3.4]
    assert sum(slept) == pytest.approx(6.0)


def test_two_processes_share_the_limit(tmp_path: Path, shared: Path, replay: Replay, settings) -> None:
    """Two ingest processes on one database: the server sees one request at a time, spaced."""
    from papertrend.store import open_store

    open_store(settings).close()
    env = dict(os.environ, PAPERTREND_DATABASE_URL=str(settings.database_url),
               PAPERTREND_ARXIV_API_URL=replay.url + "/api/query", PAPERTREND_ARXIV_MIN_INTERVAL="0.4",
               PAPERTREND_EMBED_ON_IMPORT="false")
    cmd = [sys.executable, "-m", "papertrend.cli", "ingest", "arxiv", "--until", "2026-07-02"]
    procs = [subprocess.Popen(cmd + ["--categories", cat, "--since", "2026-06-10"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for cat in ("cs.LG", "cs.CL")]
    for p in procs:
        _, errout = p.communicate(timeout=120)
        assert p.returncode == 0, errout.decode()
    times = sorted((r["start"], r["end"]) for r in replay.log)
    assert len(times) == 8  # four 7-day windows each
    for (_, e1), (s2, _) in zip(times, times[1:], strict=False):
        assert s2 >= e1, "two requests overlapped"
        assert s2 - e1 >= 0.38, f"only {s2 - e1:.3f} s between requests"


def test_worker_schedule_lock_and_catch_up(store) -> None:
    calls: list[datetime] = []
    now = [datetime(2026, 7, 1, 0, 0, tzinfo=UTC)]
    job = Job("tick", "0 * * * *", lambda t: calls.append(t) or {"n": len(calls)})
    w = Worker(store, [job], clock=lambda: now[0], log=lambda m: None, holder="w1")
    assert w.tick() == {"tick": "ok"}            # first start: runs once for the latest slot
    assert w.tick() == {}                        # nothing new due
    now[0] += timedelta(hours=5, minutes=10)     # five slots missed while down
    assert w.tick() == {"tick": "ok"} and len(calls) == 2  # caught up once, not five times
    runs = store.runs.job_runs("tick")
    assert runs[0].scheduled_for == "2026-07-01T05:00:00+00:00" and runs[0].status == "ok"
    # A second worker cannot run a job the first one holds.
    assert store.coordination.take_job_lock("tick", "w1", now[0].timestamp(), 7200)  # held for two hours
    other = Worker(store, [job], clock=lambda: now[0] + timedelta(hours=1), log=lambda m: None, holder="w2")
    assert other.tick() == {"tick": "busy"}
    store.coordination.release_job_lock("tick", "w1")
    assert other.tick() == {"tick": "ok"}


def test_worker_records_failures_and_lives_on(store) -> None:
    def boom(now: datetime) -> dict:
        raise RemoteError("arXiv answered 503 for too long", "http://127.0.0.1/api/query?start=0")

    w = Worker(store, [Job("arxiv", "*/5 * * * *", boom)], log=lambda m: None)
    assert w.tick() == {"arxiv": "failed"}
    run = store.runs.job_runs("arxiv")[0]
    assert run.status == "failed" and "503" in run.error and run.finished_at


def test_the_every_minute_mail_job_keeps_one_empty_run(store, settings) -> None:
    from datetime import UTC, datetime, timedelta

    from papertrend.worker import Worker, default_jobs

    mail_only = [j for j in default_jobs(store, settings) if j.name == "mail"]
    start = datetime(2026, 7, 31, 12, 0, 30, tzinfo=UTC)
    for minute in range(5):
        worker = Worker(store, mail_only, clock=lambda m=minute: start + timedelta(minutes=m), log=lambda _: None)
        assert worker.tick() == {"mail": "ok"}
    runs = store.runs.job_runs("mail")
    assert len(runs) == 1 and runs[0].scheduled_for.startswith("2026-07-31T12:04")
