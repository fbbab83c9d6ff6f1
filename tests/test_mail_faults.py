"""Mail that never blocks and never stalls, against real SMTP servers on loopback that misbehave:
a poisoned address in a long queue, a server without SMTPUTF8, a wrong password, a server that
never answers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from papertrend.config import Settings
from papertrend.digest.build import build_digests
from papertrend.digest.mailer import SMTPUTF8_STATE, deliver
from papertrend.errors import MailServerError
from papertrend.ingest.importer import import_paths
from papertrend.store import Store, utcnow
from papertrend.web.app import create_app
from smtp_server import SmtpSink, StalledServer
from web_helpers import csrf, served

POISON = "ü@example.com"


def _confirmed(store: Store, email: str) -> int:
    sub, _ = store.digests.upsert_pending(email, "daily", [], [], [], utcnow(), "2999-01-01T00:00:00+00:00")
    store.digests.set_status(sub.id, "confirmed", utcnow())
    return sub.id


def _mail_settings(settings: Settings, port: int, **extra: object) -> Settings:
    values: dict[str, object] = {"smtp_host": "127.0.0.1", "smtp_port": port, "base_url": "http://testserver",
                                 "mail_rate": 0, "embed_on_import": False, "web_sends_mail": False, "smtp_timeout": 5}
    return settings.replace(**{**values, **extra})


@pytest.fixture
def papers(store: Store, settings: Settings, shared: Path) -> Store:
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    return store


def test_a_poisoned_address_fails_alone_in_a_queue_of_1000(papers: Store, settings: Settings) -> None:
    with SmtpSink(smtputf8=False) as smtp:
        mail = _mail_settings(settings, smtp.port)
        poisoned = _confirmed(papers, POISON)  # stored before the form checked addresses, say
        for i in range(1000):
            _confirmed(papers, f"reader{i}@example.org")
        assert build_digests(papers, mail, "daily", "2026-07-31")["composed"] == 1001
        counts = deliver(papers, mail)
        assert counts == {"sent": 1000, "retrying": 0, "failed": 1, "suppressed": 0}
        assert len(smtp.handler.messages) == 1000
        failed = [m for m in papers.digests.messages(limit=2000) if m.status == "failed"]
        assert [m.subscriber_id for m in failed] == [poisoned]
        assert "SMTPUTF8" in (failed[0].last_error or "")
        assert papers.digests.get(poisoned).hard_bounces == 0  # the address is not to blame
        assert papers.coordination.get_state(SMTPUTF8_STATE) == "no"


def test_non_ascii_addresses_go_with_smtputf8_or_are_refused_at_the_form(papers: Store, settings: Settings) -> None:
    from starlette.testclient import TestClient

    with SmtpSink(smtputf8=False) as plain:
        mail = _mail_settings(settings, plain.port)
        client = TestClient(create_app(mail, papers))
        token = csrf(client, "/")
        refused = client.post("/subscribe", data={"email": POISON, "frequency": "daily", "csrf": token})
        assert refused.status_code == 400 and "non-ASCII" in refused.text
        papers.coordination.set_state(SMTPUTF8_STATE, "no")
        assert client.post("/subscribe", data={"email": POISON, "frequency": "daily", "csrf": token}).status_code == 400
    with SmtpSink(smtputf8=True) as utf8:
        mail = _mail_settings(settings, utf8.port)
        _confirmed(papers, "someone@example.org")
        build_digests(papers, mail, "daily", "2026-07-31")
        deliver(papers, mail)  # connecting records that this server takes SMTPUTF8
        client = TestClient(create_app(mail, papers))
        ok = client.post("/subscribe", data={"email": POISON, "frequency": "daily", "csrf": csrf(client, "/")})
        assert ok.status_code == 200
        deliver(papers, mail)
        assert [m["To"] for m in utf8.handler.messages][-1] == POISON


def test_a_wrong_password_stops_the_run_and_blames_nobody(papers: Store, settings: Settings, run_cli) -> None:
    with SmtpSink(password="right") as smtp:
        wrong = _mail_settings(settings, smtp.port, smtp_user="papertrend", smtp_password="wrong")
        ids = [_confirmed(papers, f"r{i}@example.org") for i in range(3)]
        build_digests(papers, wrong, "daily", "2026-07-31")
        with pytest.raises(MailServerError, match="refused the login"):
            deliver(papers, wrong)
        messages = papers.digests.messages()
        assert {m.status for m in messages} == {"pending"} and {m.attempts for m in messages} == {0}
        assert all(papers.digests.get(i).hard_bounces == 0 for i in ids)
        env = {"PAPERTREND_SMTP_HOST": "127.0.0.1", "PAPERTREND_SMTP_PORT": str(smtp.port),
               "PAPERTREND_SMTP_USER": "papertrend", "PAPERTREND_SMTP_PASSWORD": "wrong"}
        result = run_cli("digest", "send", ok=False, env=env)
        assert result.exit_code == 1 and "refused the login" in result.output
        right = wrong.replace(smtp_password="right")
        assert deliver(papers, right)["sent"] == 3
        assert len(smtp.handler.messages) == 3


def test_a_relay_refusal_is_the_servers_fault_not_the_subscribers(papers: Store, settings: Settings) -> None:
    with SmtpSink() as smtp:
        mail = _mail_settings(settings, smtp.port)
        ids = [_confirmed(papers, f"r{i}@example.org") for i in range(3)]
        build_digests(papers, mail, "daily", "2026-07-31")
        smtp.handler.rcpt_reply = "550 5.7.1 relaying denied"
        for _ in range(mail.bounce_limit + 1):
            with pytest.raises(MailServerError, match="refused to relay"):
                deliver(papers, mail)
        assert {m.status for m in papers.digests.messages()} == {"pending"}
        assert all(papers.digests.get(i).status == "confirmed" and papers.digests.get(i).hard_bounces == 0
                   for i in ids)
        smtp.handler.rcpt_reply = "550 5.1.1 no such user"  # this one is about the recipient
        counts = deliver(papers, mail)
        assert counts["failed"] == 3 and all(papers.digests.get(i).hard_bounces == 1 for i in ids)


def test_healthz_answers_while_the_mail_server_never_does(papers: Store, settings: Settings) -> None:
    """Subscribing queues the confirmation; the background sender hangs on a server that never
    greets; meanwhile the site answers. (Before, the subscribe request itself talked SMTP on the
    event loop: it and every request after it waited for the server.)"""
    with StalledServer() as stalled:
        mail = _mail_settings(settings, stalled.port, web_sends_mail=True, smtp_timeout=20)
        app = create_app(mail, papers)
        with served(app) as base:
            with httpx.Client(base_url=base, timeout=60) as client:
                r = client.post("/subscribe", data={"email": "someone@example.org", "frequency": "daily",
                                                    "csrf": csrf(client, "/")})
                assert r.status_code == 200
                deadline = time.monotonic() + 15
                while not stalled.accepted and time.monotonic() < deadline:  # the sender is connecting
                    time.sleep(0.02)
                assert stalled.accepted, "the background sender never tried the mail server"
                health = client.get("/healthz")
                assert health.status_code == 200
                # ... answered while the sender still waits for the server's greeting: nothing has
                # been sent, and the sender has not given up on the server yet.
                assert set(papers.digests.outbox_counts()) <= {"pending", "sending"}
                assert app.state.mail_pump.last_error is None
