"""Safe to open to the public: accounts, roles, operator pages, links that cannot be reused, CSRF,
body limits. Each attack is a test, written from the attacker's side."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from papertrend.accounts import signin
from papertrend.config import Settings
from papertrend.digest import links
from papertrend.digest.mailer import deliver
from papertrend.ingest.importer import import_paths
from papertrend.store import Store, utcnow
from papertrend.web.app import create_app
from web_helpers import csrf, sign_in


@pytest.fixture
def site(store: Store, settings: Settings, shared: Path) -> Settings:
    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    return settings.replace(base_url="http://testserver", web_sends_mail=False)


def _client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(settings, store), follow_redirects=False)


@pytest.mark.parametrize("path", ["/outbox", "/jobs", "/jobs.json", "/admin"])
def test_operator_pages_answer_only_to_admins(store: Store, site: Settings, path: str) -> None:
    signin.request_link(store, site, "someone@example.org", "10.0.0.1")  # mail with a link sits in the outbox
    stranger = _client(store, site)
    r = stranger.get(path)
    assert r.status_code in (303, 401) and "someone@example.org" not in r.text
    if r.status_code == 303:
        assert r.headers["location"].startswith("/signin?next=")
    assert stranger.get(path, headers={"accept": "application/json"}).status_code == 401
    reader = _client(store, site)
    sign_in(reader, "reader@example.org")
    assert reader.get(path).status_code == 403
    admin = _client(store, site)
    sign_in(admin, "admin@example.org", role="admin")
    page = admin.get(path)
    assert page.status_code == 200
    if path == "/outbox":
        assert "someone@example.org" in page.text
    home = stranger.get("/")
    assert "/outbox" not in home.text and "/jobs" not in home.text  # no operator links for strangers


def test_sign_in_link_is_single_use_and_expires(store: Store, site: Settings) -> None:
    client = _client(store, site)
    url = signin.new_link(store, site, "new@example.org")
    token = url.split("token=")[1]
    assert client.get(f"/signin/link?token={token}").status_code == 200  # a GET (mail scanner) signs nobody in
    assert store.accounts.by_email("new@example.org") is None
    r = client.post("/signin/link", data={"token": token, "csrf": csrf(client)})
    assert r.status_code == 303 and r.headers["location"] == "/account"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/account").status_code == 200
    other = _client(store, site)
    assert other.post("/signin/link", data={"token": token, "csrf": csrf(other)}).status_code == 400  # used up
    late = signin.new_link(store, site, "new@example.org").split("token=")[1]
    with pytest.raises(Exception, match="not valid any more"):
        signin.redeem(store, late, now=time.time() + 16 * 60)
    https = TestClient(create_app(site.replace(base_url="https://testserver"), store), base_url="https://testserver",
                       follow_redirects=False)
    fresh = signin.new_link(store, site, "new@example.org").split("token=")[1]
    r = https.post("/signin/link", data={"token": fresh, "csrf": csrf(https)}, headers={"origin": "https://testserver"})
    assert r.status_code == 303
    assert r.headers["set-cookie"].startswith("__Host-pt_session=") and "Secure" in r.headers["set-cookie"]


def test_sign_in_requests_look_the_same_for_every_address(store: Store, site: Settings) -> None:
    signin.add_user(store, "known@example.org", "reader")
    client = _client(store, site)
    token = csrf(client)
    known = client.post("/signin", data={"email": "known@example.org", "csrf": token})
    unknown = client.post("/signin", data={"email": "unknown@example.org", "csrf": token})
    assert known.status_code == unknown.status_code == 200 and known.text == unknown.text
    for _ in range(6):
        again = client.post("/signin", data={"email": "victim@example.org", "csrf": token})
        assert again.text == known.text
    deliver(store, site)
    mails = [m for m in store.digests.messages(limit=100) if m.to_addr == "victim@example.org"]
    assert len(mails) == signin.LIMIT_PER_EMAIL[0]  # the form cannot flood an inbox


def test_cross_site_posts_are_refused(store: Store, site: Settings) -> None:
    victim = _client(store, site)
    sign_in(victim, "victim@example.org")
    token = csrf(victim)
    # Another site's page posting with the victim's cookies, but without the token it cannot read.
    for path, data in (("/signout", {}), ("/account/digest", {"action": "subscribe", "frequency": "daily"}),
                       ("/subscribe", {"email": "x@example.org", "frequency": "daily"}),
                       ("/signin", {"email": "x@example.org"})):
        assert victim.post(path, data=data).status_code == 403, path
        assert victim.post(path, data={**data, "csrf": "0" * 40}).status_code == 403, path
        evil = victim.post(path, data={**data, "csrf": token}, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403, path
    attacker = _client(store, site)  # a token from the attacker's own browser does not fit the victim's cookie
    assert victim.post("/signout", data={"csrf": csrf(attacker)}).status_code == 403
    assert victim.get("/account").status_code == 200  # still signed in
    assert victim.post("/signout", data={"csrf": token}).status_code == 303


def test_a_kept_link_never_acts_for_someone_else(store: Store, site: Settings) -> None:
    client = _client(store, site)
    token = csrf(client, "/")
    client.post("/subscribe", data={"email": "first@example.org", "frequency": "daily", "csrf": token})
    first = store.digests.by_email("first@example.org")
    kept_confirm = links.make_token(site, "confirm", first)
    kept_prefs = links.make_token(site, "prefs", first)
    store.digests.expire_pending("2999-01-01T00:00:00+00:00")  # first never confirmed: forgotten
    client.post("/subscribe", data={"email": "second@example.org", "frequency": "daily", "csrf": token})
    second = store.digests.by_email("second@example.org")
    assert second.id != first.id  # ids are never handed out twice
    assert store.digests.get(first.id).email.startswith("expired-")
    for path, kept in (("/subscribe/confirm", kept_confirm), ("/preferences", kept_prefs)):
        r = client.get(f"{path}?token={kept}")
        assert r.status_code == 400 and "second@example.org" not in r.text
    assert client.post("/subscribe/confirm", data={"token": kept_confirm, "csrf": token}).status_code == 400
    assert store.digests.get(second.id).status == "pending"


def test_unsubscribing_retires_old_links_but_old_unsubscribe_links_still_work(store: Store, site: Settings) -> None:
    client = _client(store, site)
    token = csrf(client, "/")
    client.post("/subscribe", data={"email": "reader@example.org", "frequency": "daily", "csrf": token})
    s = store.digests.by_email("reader@example.org")
    confirm = links.make_token(site, "confirm", s)
    assert client.post("/subscribe/confirm", data={"token": confirm, "csrf": token}).status_code == 200
    s = store.digests.get(s.id)
    old_prefs, old_unsub = links.make_token(site, "prefs", s), links.make_token(site, "unsub", s)
    assert client.post(f"/unsubscribe?token={old_unsub}").status_code == 200
    assert store.digests.get(s.id).status == "unsubscribed"
    assert client.get(f"/preferences?token={old_prefs}").status_code == 400
    # Subscribing again needs a new confirmation: the old confirm link does not do it.
    client.post("/subscribe", data={"email": "reader@example.org", "frequency": "weekly", "csrf": token})
    assert store.digests.get(s.id).status == "pending"
    assert client.post("/subscribe/confirm", data={"token": confirm, "csrf": token}).status_code == 400
    fresh = links.make_token(site, "confirm", store.digests.get(s.id))
    assert client.post("/subscribe/confirm", data={"token": fresh, "csrf": token}).status_code == 200
    # An unsubscribe link from a digest of before still unsubscribes (RFC 8058), and only this address.
    assert client.post(f"/unsubscribe?token={old_unsub}").status_code == 200
    assert store.digests.get(s.id).status == "unsubscribed"


def test_an_empty_preferences_post_changes_nothing(store: Store, site: Settings) -> None:
    s, _ = store.digests.upsert_pending("p@example.org", "weekly", ["world models"], ["Ada"], ["cs.CV"], utcnow(),
                                        "2999-01-01")
    store.digests.set_status(s.id, "confirmed", utcnow())
    client = _client(store, site)
    prefs = links.make_token(site, "prefs", store.digests.get(s.id))
    token = csrf(client, f"/preferences?token={prefs}")
    assert client.post("/preferences", data={"token": prefs, "csrf": token}).status_code == 400
    assert client.post("/preferences", data={"token": prefs, "csrf": token, "frequency": "daily"}).status_code == 200
    after = store.digests.get(s.id)
    assert (after.frequency, after.topics, after.authors, after.categories) == ("daily", ["world models"], ["Ada"],
                                                                               ["cs.CV"])


def test_a_2mb_body_is_refused_before_it_is_read(store: Store, site: Settings) -> None:
    client = _client(store, site)
    token = csrf(client, "/")
    big = "x" * (2 * 1024 * 1024)
    r = client.post("/subscribe", data={"email": "a@example.org", "topics": big, "csrf": token})
    assert r.status_code == 413
    chunked = client.post("/subscribe", content=iter([b"email=a%40example.org&topics=", b"x" * 1_100_000]),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_account_page_manages_the_digest_and_sign_out_everywhere(store: Store, site: Settings) -> None:
    laptop, phone = _client(store, site), _client(store, site)
    user = sign_in(laptop, "reader@example.org")
    sign_in(phone, "reader@example.org")
    token = csrf(laptop, "/account")
    r = laptop.post("/account/digest", data={"csrf": token, "action": "subscribe", "frequency": "weekly",
                                             "topics": "world models"})
    assert r.status_code == 200
    s = store.digests.by_email(user.email)
    assert s.status == "confirmed" and s.frequency == "weekly" and s.topics == ["world models"]
    assert "world models" in laptop.get("/account").text
    laptop.post("/account/digest", data={"csrf": token, "action": "unsubscribe"})
    assert store.digests.get(s.id).status == "unsubscribed"
    assert laptop.post("/signout", data={"csrf": token, "everywhere": "1"}).status_code == 303
    assert phone.get("/account").status_code == 303  # its session ended too


def test_cli_makes_the_first_admin_with_a_one_time_link(run_cli, store: Store, settings: Settings) -> None:
    result = run_cli("users", "add", "Boss@Example.org", "--role", "admin")
    link = re.search(r"(http\S+/signin/link\?token=\S+)", result.output.replace("\n", ""))
    assert link and "<boss@example.org>: admin" in result.output
    listed = run_cli("users", "list", "--json")
    assert '"role": "admin"' in listed.output
    client = _client(store, settings)
    token = link.group(1).split("token=")[1]
    assert client.post("/signin/link", data={"token": token, "csrf": csrf(client)}).status_code == 303
    assert client.get("/admin").status_code == 200


@pytest.mark.parametrize("value", ["", "x" * 5000, "ü@例え.テスト", "a\x00b@example.org", "=?utf-8?q?x?=@a.org",
                                   "<script>@example.org", "\u202eevil@example.org", "a@b", "١٢٣@example.org"])
def test_hostile_form_values_get_4xx_never_5xx(store: Store, site: Settings, value: str) -> None:
    client = _client(store, site)
    sign_in(client, "reader@example.org")
    token = csrf(client, "/account")
    answers = [
        client.post("/signin", data={"email": value, "csrf": token, "next": value}),
        client.post("/subscribe", data={"email": value, "frequency": value, "topics": value, "csrf": token}),
        client.post("/signin/link", data={"token": value, "next": value, "csrf": token}),
        client.post("/account/digest", data={"action": value, "frequency": value, "topics": value, "csrf": token}),
        client.post("/account/digest", data={"action": "save", "frequency": "daily", "topics": value,
                                             "authors": value, "categories": value, "csrf": token}),
        client.post("/signout", data={"csrf": value}),
    ]
    assert all(r.status_code < 500 for r in answers), [r.status_code for r in answers]
