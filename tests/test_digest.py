"""Subscribe, confirm by POST, receive digests over real SMTP, change interests, one-click
unsubscribe; SMTP faults; a sender killed mid-batch; hostile paper text in mail."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from starlette.testclient import TestClient

from papertrend.digest.mailer import deliver
from papertrend.ingest.importer import import_paths
from papertrend.digest.build import build_digests
from papertrend.web.app import create_app
from smtp_server import SmtpSink
from web_helpers import csrf


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def mail_settings(settings, smtp: SmtpSink):
    # The tests send with deliver() themselves, so that its counts are theirs alone; the background
    # sender of the web process has tests of its own below.
    return settings.replace(smtp_host="127.0.0.1", smtp_port=smtp.port, base_url="http://testserver", mail_rate=0,
                            embed_on_import=False, web_sends_mail=False, smtp_timeout=2)


@pytest.fixture
def app(store, mail_settings, shared: Path) -> TestClient:
    import_paths(store, mail_settings, [shared / "hf-daily" / f"2026-07-{day}.json" for day in ("30", "31")])
    return TestClient(create_app(mail_settings, store))


def _link(msg, path: str) -> str:
    text = msg.get_body(preferencelist=("plain",)).get_content()
    url = next(u for u in re.findall(r"http://testserver\S+", text) if urlparse(u).path == path)
    return url.replace("http://testserver", "")


def _subscribe(app: TestClient, smtp: SmtpSink, address: str, **extra: str) -> str:
    before = len(smtp.handler.messages)
    r = app.post("/subscribe", data={"email": address, "frequency": "daily", "csrf": csrf(app, "/"), **extra})
    assert r.status_code == 200 and "Check your inbox" in r.text
    deliver(app.app.state.store, app.app.state.settings)
    smtp.wait_for(before + 1)
    confirm = _link(smtp.handler.to(address)[-1], "/subscribe/confirm")
    page = app.get(confirm)
    assert page.status_code == 200 and "<button" in page.text
    token = confirm.split("token=")[1]
    assert app.app.state.store.digests.get(int(token.split(".")[1])).status == "pending"  # GET confirms nobody
    assert app.post("/subscribe/confirm", data={"token": token, "csrf": csrf(app, confirm)}).status_code == 200
    return token


def test_subscriber_journey(app: TestClient, smtp: SmtpSink, store, mail_settings) -> None:
    _subscribe(app, smtp, "reader@example.org")
    sid = store.digests.confirmed("daily")[0].id

    assert build_digests(store, mail_settings, "daily", "2026-07-31")["composed"] == 1
    assert build_digests(store, mail_settings, "daily", "2026-07-31")["composed"] == 0  # idempotent
    deliver(store, mail_settings)
    digest = smtp.handler.to("reader@example.org")[-1]
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert digest["List-Unsubscribe"].strip().startswith("<http://testserver/unsubscribe?token=")
    assert digest["List-Id"] and digest["Message-ID"].startswith(f"<digest.2026-07-31.{sid}.")
    html = digest.get_body(preferencelist=("html",)).get_content()
    text = digest.get_body(preferencelist=("plain",)).get_content()
    assert "PhiZero" in html and "PhiZero" in text and "/papers/2607.28624" in text
    first = set(re.findall(r"/papers/(\d{4}\.\d{5})", text))
    assert len(first) == mail_settings.digest_max_papers

    # Change interests through the signed preferences link: only "world model" papers.
    prefs = _link(digest, "/preferences")
    assert app.post("/preferences", data={"token": prefs.split("token=")[1], "frequency": "daily",
                                          "csrf": csrf(app, "/"), "topics": "world model", "authors": "",
                                          "categories": ""}).status_code == 200
    build_digests(store, mail_settings, "daily", "2026-07-30")
    deliver(store, mail_settings)
    second = smtp.handler.to("reader@example.org")[-1]
    text2 = second.get_body(preferencelist=("plain",)).get_content()
    ids2 = set(re.findall(r"/papers/(\d{4}\.\d{5})", text2))
    assert ids2 and not ids2 & first  # each paper at most once per subscriber
    for pid in ids2:
        p = store.papers.get(pid)
        words = set(re.findall(r"\w+", f"{p.title} {p.abstract} {' '.join(p.ai_keywords)}".lower()))
        assert {"world", "model"} <= words

    # RFC 8058 one-click: a POST with the standard body, no login.
    unsub = urlparse(second["List-Unsubscribe"].strip().strip("<>"))
    r = app.post(f"{unsub.path}?{unsub.query}", content=b"List-Unsubscribe=One-Click",
                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and store.digests.get(sid).status == "unsubscribed"
    count = len(smtp.handler.messages)
    assert build_digests(store, mail_settings, "weekly", "2026-W31")["subscribers"] == 0
    assert build_digests(store, mail_settings, "daily", "2026-07-29")["subscribers"] == 0
    deliver(store, mail_settings)
    assert len(smtp.handler.messages) == count  # nothing more


def test_same_answer_for_known_addresses_and_rate_limits(app: TestClient, smtp: SmtpSink, store) -> None:
    _subscribe(app, smtp, "known@example.org")
    n = len(smtp.handler.messages)
    token = csrf(app, "/")
    again = app.post("/subscribe", data={"email": "known@example.org", "frequency": "daily", "csrf": token})
    fresh = app.post("/subscribe", data={"email": "new@example.org", "frequency": "daily", "csrf": token})
    assert again.text.replace("known", "") == fresh.text.replace("new", "")
    deliver(store, app.app.state.settings)
    smtp.wait_for(n + 1)
    assert len(smtp.handler.to("known@example.org")) == 1  # a confirmed address gets no new mail
    for _ in range(5):
        app.post("/subscribe", data={"email": "victim@example.org", "frequency": "daily", "csrf": token})
    deliver(store, app.app.state.settings)
    assert len(smtp.handler.to("victim@example.org")) == 3  # per-address limit
    answers = [app.post("/subscribe", data={"email": f"x{i}@example.org", "frequency": "daily", "csrf": token})
               for i in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 400]  # per-client limit: 10 an hour
    assert "Too many" in answers[-1].text
    assert app.post("/subscribe", data={"email": "not an address", "csrf": token}).status_code == 400
    assert app.get("/subscribe/confirm?token=confirm.1.forged").status_code == 400


def test_smtp_faults_retry_fail_suppress(app: TestClient, smtp: SmtpSink, store, mail_settings) -> None:
    for who in ("a", "b", "c"):
        _subscribe(app, smtp, f"{who}@example.org")
    build_digests(store, mail_settings, "daily", "2026-07-31")
    smtp.handler.faults.extend(["451", "550", "drop"])
    clock = [time.time()]
    counts = deliver(store, mail_settings, clock=lambda: clock[0])
    assert counts == {"sent": 0, "retrying": 2, "failed": 1, "suppressed": 0}
    assert deliver(store, mail_settings, clock=lambda: clock[0])["sent"] == 0  # not due yet
    clock[0] += 3600
    assert deliver(store, mail_settings, clock=lambda: clock[0])["sent"] == 2
    status = store.digests.outbox_counts()
    assert status.get("failed") == 1 and status.get("sent", 0) >= 5
    failed = [m for m in store.digests.messages() if m.status == "failed"][0]
    assert failed.last_error.startswith("550")
    s = store.digests.get(failed.subscriber_id)
    assert s.hard_bounces == 1 and s.status == "confirmed"


def test_hostile_paper_text_stays_inert(store, mail_settings, smtp: SmtpSink, app: TestClient, tmp_path: Path) -> None:
    _subscribe(app, smtp, "h@example.org")
    evil = tmp_path / "2026-07-28.jsonl"
    evil.write_text(json.dumps({"id": "2607.00009", "categories": ["cs.CR"], "authors": ["Mallory"],
                                "title": "Nice paper\r\nBcc: everyone@example.org\r\nSubject: pwned",
                                "summary": "<script>alert(1)</script><a href='http://evil'>click</a>"}) + "\n")
    import_paths(store, mail_settings, [evil])
    build_digests(store, mail_settings, "daily", "2026-07-28")
    deliver(store, mail_settings)
    msg = smtp.handler.to("h@example.org")[-1]
    assert msg["Bcc"] is None and "pwned" not in msg["Subject"]
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "href='http://evil'" not in html


def test_sigkill_mid_batch_loses_nothing(tmp_path: Path, shared: Path, settings) -> None:
    """Kill the sender while it sends 30 digests, start it again: everyone gets theirs."""
    from papertrend.store import open_store

    with SmtpSink(delay=0.03) as smtp:
        env = dict(os.environ, PAPERTREND_DATABASE_URL=str(settings.database_url), PAPERTREND_SMTP_HOST="127.0.0.1",
                   PAPERTREND_SMTP_PORT=str(smtp.port), PAPERTREND_MAIL_RATE="0", PAPERTREND_MAIL_LEASE_SECONDS="1",
                   PAPERTREND_EMBED_ON_IMPORT="false")
        store = open_store(settings)
        import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
        for i in range(30):
            store.digests.upsert_pending(f"s{i}@example.org", "daily", [], [], [], "2026-07-31T00:00:00", "2099-01-01")
        with store.write() as conn:
            conn.exec_driver_sql("UPDATE subscribers SET status = 'confirmed'")
        build_digests(store, settings, "daily", "2026-07-31")
        cmd = [sys.executable, "-m", "papertrend.cli", "digest", "send"]
        kills = 0
        for _ in range(2):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = len(smtp.handler.messages) + 8
            end = time.monotonic() + 20
            while len(smtp.handler.messages) < target and time.monotonic() < end:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            time.sleep(1.1)  # the killed sender's lease runs out
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=60)
        per = {}
        for m in smtp.handler.messages:
            per.setdefault(m["To"], []).append(m["Message-ID"])
        assert len(per) == 30  # nobody lost
        duplicates = sum(len(v) - 1 for v in per.values())
        assert duplicates <= kills  # at most one per kill ...
        assert all(len(set(v)) == 1 for v in per.values())  # ... and it is the same message
        print(f"\n{kills} kills, {duplicates} duplicate deliveries")
