"""The research community from the reader's side, over HTTP: upvotes, saving, comments, reports,
moderation, profiles and what the shared page cache may and may not hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from papertrend.config import Settings
from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import Store, utcnow
from papertrend.web.app import create_app
from web_helpers import csrf, sign_in

DAY = "2026-07-31"


@pytest.fixture
def site(store: Store, settings: Settings, shared: Path) -> Settings:
    import_paths(store, settings, [shared / "hf-daily" / f"{DAY}.json"])
    recompute_trending(store)
    return settings.replace(base_url="http://testserver", web_sends_mail=False, trending_refresh_seconds=0.0)


@pytest.fixture
def app(store: Store, site: Settings) -> Starlette:
    """One app for every reader in a test, as one web process serves them all."""
    return create_app(site, store)


def _client(app: Starlette) -> TestClient:
    return TestClient(app, follow_redirects=False)


def _paper(client: TestClient) -> dict:
    papers: list[dict] = client.get(f"/papers/date/{DAY}.json").json()["papers"]
    return papers[-1]   # the least upvoted: a vote is visible in its rank


def _vote(client: TestClient, paper_id: str, action: str = "up", json: bool = False, next: str = "/") -> object:
    headers = {"accept": "application/json"} if json else {}
    return client.post("/vote", data={"paper": paper_id, "action": action, "csrf": csrf(client, "/"), "next": next},
                       headers=headers)


def _button(html: str, paper_id: str) -> str:
    m = re.search(r'<input type="hidden" name="paper" value="' + re.escape(paper_id) +
                  r'"><input type="hidden" name="next" value="[^"]*"><button type="submit" name="action" '
                  r'value="(\w+)" aria-pressed="(\w+)"', html)
    assert m, "no upvote button for the paper"
    return f"{m.group(1)}/{m.group(2)}"


def test_upvote_counts_at_once_undo_and_one_per_account(store: Store, app: Starlette) -> None:
    reader = _client(app)
    sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    day = f"/papers/date/{DAY}"
    assert _button(reader.get(day).text, paper["id"]) == "up/false"
    r = _vote(reader, paper["id"], next=day)
    assert r.status_code == 303 and r.headers["location"] == day          # back where the form was
    page = reader.get(day)
    assert _button(page.text, paper["id"]) == "down/true"
    listed = {p["id"]: p for p in reader.get(f"{day}.json").json()["papers"]}[paper["id"]]
    assert (listed["upvotes"], listed["upvotes_here"], listed["upvotes_total"]) == (
        paper["upvotes"], 1, paper["upvotes"] + 1)
    # A double click sends "up" twice: still one vote.
    for _ in range(3):
        assert _vote(reader, paper["id"], json=True).json()["upvotes_here"] == 1
    assert store.community.vote_count(paper["id"]) == 1
    # Undo.
    undone = _vote(reader, paper["id"], "down", json=True).json()
    assert undone == {"paper": paper["id"], "voted": False, "upvotes_here": 0, "upvotes_imported": paper["upvotes"],
                      "upvotes_total": paper["upvotes"]}
    assert _button(reader.get(day).text, paper["id"]) == "up/false"


def test_per_person_state_never_leaks_through_the_shared_cache(store: Store, app: Starlette) -> None:
    ada, bob, stranger = _client(app), _client(app), _client(app)
    sign_in(ada, "ada@example.org")
    sign_in(bob, "bob@example.org")
    paper = _paper(ada)
    day = f"/papers/date/{DAY}"
    _vote(ada, paper["id"])
    ada.post("/save", data={"paper": paper["id"], "action": "save", "csrf": csrf(ada, "/")})
    assert _button(ada.get(day).text, paper["id"]) == "down/true"
    assert 'value="unsave" aria-pressed="true"' in ada.get(f"/papers/{paper['id']}").text
    # The same cached page, for others: not voted, not saved, and the count includes ada's vote.
    for other in (bob, stranger):
        html = other.get(day).text
        assert _button(html, paper["id"]) == "up/false"
        assert 'aria-pressed="true"' not in html and "<pt:" not in html
        assert f'<span class="n">{paper["upvotes"] + 1}</span>' in html


def test_signed_out_clicks_go_to_sign_in_and_back_to_the_paper(store: Store, app: Starlette) -> None:
    stranger = _client(app)
    paper = _paper(stranger)
    r = _vote(stranger, paper["id"])
    assert r.status_code == 303 and r.headers["location"] == f"/signin?next=%2Fpapers%2F{paper['id']}"
    r = _vote(stranger, paper["id"], json=True)
    assert r.status_code == 401 and r.json()["signin"].startswith("/signin?next=")
    r = stranger.post("/comments", data={"paper": paper["id"], "body": "hi", "csrf": csrf(stranger, "/")})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
    assert store.community.vote_count(paper["id"]) == 0


def test_csrf_less_posts_are_refused(store: Store, app: Starlette) -> None:
    reader = _client(app)
    sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    for path, data in (("/vote", {"paper": paper["id"], "action": "up"}),
                       ("/save", {"paper": paper["id"], "action": "save"}),
                       ("/comments", {"paper": paper["id"], "body": "hello"}),
                       ("/report", {"kind": "paper", "target": paper["id"], "reason": "x"}),
                       ("/submit", {"paper": "2607.00001"}),
                       ("/moderation", {"action": "hide", "kind": "paper", "target": paper["id"], "reason": "x"})):
        assert reader.post(path, data=data).status_code == 403, path
        assert reader.post(path, data={**data, "csrf": "0" * 40}).status_code == 403, path
        r = reader.post(path, data={**data, "csrf": csrf(reader, "/")}, headers={"origin": "https://evil.example"})
        assert r.status_code == 403, path
    assert store.community.vote_count(paper["id"]) == 0 and not store.community.thread(paper["id"])


def test_suspended_accounts_cannot_vote_comment_or_submit(store: Store, app: Starlette) -> None:
    mod, mallory = _client(app), _client(app)
    sign_in(mod, "mod@example.org", role="moderator")
    bad = sign_in(mallory, "mallory@example.org")
    paper = _paper(mod)
    r = mod.post("/moderation", data={"action": "suspend", "kind": "user", "target": bad.name, "reason": "spam ring",
                                      "csrf": csrf(mod, "/")})
    assert r.status_code == 303
    assert store.accounts.get(bad.id).status == "suspended"
    assert _vote(mallory, paper["id"]).status_code == 403
    assert mallory.post("/comments", data={"paper": paper["id"], "body": "buy now",
                                           "csrf": csrf(mallory, "/")}).status_code == 403
    assert mallory.post("/submit", data={"paper": "2607.00001", "csrf": csrf(mallory, "/")}).status_code == 403
    assert store.community.vote_count(paper["id"]) == 0
    audit = mod.get("/admin/audit.json").json()["entries"]
    assert audit[0]["action"] == "suspend" and audit[0]["actor"] == "mod" and audit[0]["reason"] == "spam ring"


def test_votes_are_rate_limited_per_account(store: Store, site: Settings) -> None:
    reader = _client(create_app(site.replace(votes_per_minute=3), store))
    sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    codes = [_vote(reader, paper["id"], "up" if i % 2 == 0 else "down", json=True).status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_comment_reply_edit_delete(store: Store, app: Starlette) -> None:
    ada, bob = _client(app), _client(app)
    sign_in(ada, "ada@example.org")
    sign_in(bob, "bob@example.org")
    paper = _paper(ada)
    page = f"/papers/{paper['id']}"
    r = ada.post("/comments", data={"paper": paper["id"], "body": "Nice *result*: $O(n^2)$ vs `O(n)`",
                                    "csrf": csrf(ada, "/")})
    assert r.status_code == 303 and r.headers["location"].startswith(page + "#c")
    first = int(r.headers["location"].split("#c")[1])
    r = bob.post("/comments", data={"paper": paper["id"], "body": "Agreed", "parent": str(first),
                                    "csrf": csrf(bob, "/")})
    reply = int(r.headers["location"].split("#c")[1])
    # A reply to the reply joins the thread: one level.
    r = ada.post("/comments", data={"paper": paper["id"], "body": "Thanks", "parent": str(reply),
                                    "csrf": csrf(ada, "/")})
    html = ada.get(page).text
    assert "<em>result</em>" in html and "<code>O(n)</code>" in html
    assert "<msup><mi>n</mi><mn>2</mn></msup>" in html   # LaTeX is MathML
    data = ada.get(page + ".json").json()
    assert [c["id"] for c in data["comments"]] == [first]
    assert [r["body"] for r in data["comments"][0]["replies"]] == ["Agreed", "Thanks"]
    assert data["comments_here"] == 3
    listed = {p["id"]: p for p in ada.get(f"/papers/date/{DAY}.json").json()["papers"]}[paper["id"]]
    assert listed["comments_here"] == 3
    assert "3 comments" in ada.get(f"/papers/date/{DAY}").text
    # Only the author sees the edit link, and only the author may edit.
    edit = f'href="/comments/{first}/edit" >'
    assert edit in html and edit not in bob.get(page).text
    assert bob.get(f"/comments/{first}/edit").status_code == 403
    assert bob.post(f"/comments/{first}/edit", data={"body": "pwned", "csrf": csrf(bob, "/")}).status_code == 403
    assert ada.post(f"/comments/{first}/edit", data={"body": "Nice **zebracorn**", "csrf": csrf(ada, "/")}
                    ).status_code == 303
    assert "<strong>zebracorn</strong>" in ada.get(page).text and "(edited)" in ada.get(page).text
    ada.post(f"/comments/{first}/edit", data={"action": "delete", "csrf": csrf(ada, "/")})
    html = bob.get(page).text
    assert "Deleted by its author." in html and "Agreed" in html and "zebracorn" not in html


def test_comment_limits_and_bad_input(store: Store, site: Settings) -> None:
    reader = _client(create_app(site.replace(comments_per_hour=3, comment_max_chars=100), store))
    sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    token = csrf(reader, "/")
    assert reader.post("/comments", data={"paper": paper["id"], "body": "x" * 101, "csrf": token}).status_code == 400
    assert reader.post("/comments", data={"paper": paper["id"], "body": "   ", "csrf": token}).status_code == 400
    assert reader.post("/comments", data={"paper": paper["id"], "body": "a", "parent": "999",
                                          "csrf": token}).status_code == 400
    assert reader.post("/comments", data={"paper": "9999.99999", "body": "a", "csrf": token}).status_code == 404
    assert reader.post("/comments", data={"paper": paper["id"], "body": "a", "parent": "x" * 50,
                                          "csrf": token}).status_code == 400
    assert reader.post("/comments", data={"paper": paper["id"], "body": "ok", "csrf": token}).status_code == 303
    assert reader.post("/comments", data={"paper": paper["id"], "body": "ok", "csrf": token}).status_code == 303
    assert reader.post("/comments", data={"paper": paper["id"], "body": "ok", "csrf": token}).status_code == 429


def test_report_and_moderation_hide_everywhere_with_an_audit_log(store: Store, app: Starlette) -> None:
    ada, mod, stranger = _client(app), _client(app), _client(app)
    sign_in(ada, "ada@example.org")
    sign_in(mod, "mod@example.org", role="moderator")
    paper = _paper(ada)
    token = csrf(ada, "/")
    r = ada.post("/comments", data={"paper": paper["id"], "body": "spam spam", "csrf": token})
    comment = r.headers["location"].split("#c")[1]
    assert ada.post("/report", data={"kind": "comment", "target": comment, "reason": "spam", "csrf": token,
                                     "next": "/"}).status_code == 200
    assert ada.post("/report", data={"kind": "paper", "target": paper["id"], "reason": "off-topic",
                                     "csrf": token}).status_code == 200
    assert ada.get("/moderation").status_code == 403 and ada.get("/admin/audit").status_code == 403
    queue = mod.get("/moderation")
    assert queue.status_code == 200 and "spam spam" in queue.text and "off-topic" in queue.text
    # A reason is required; then the comment and the paper are hidden.
    mtoken = csrf(mod, "/")
    assert mod.post("/moderation", data={"action": "hide", "kind": "comment", "target": comment,
                                         "csrf": mtoken}).status_code == 400
    assert mod.post("/moderation", data={"action": "hide", "kind": "comment", "target": comment, "reason": "spam",
                                         "csrf": mtoken}).status_code == 303
    assert "spam spam" not in stranger.get(f"/papers/{paper['id']}").text
    assert mod.post("/moderation", data={"action": "hide", "kind": "paper", "target": paper["id"],
                                         "reason": "not research", "csrf": mtoken}).status_code == 303
    assert store.community.hidden_paper_ids() == {paper["id"]}
    assert stranger.get(f"/papers/{paper['id']}").status_code == 404
    assert paper["id"] not in stranger.get(f"/papers/date/{DAY}").text
    listed = stranger.get(f"/papers/date/{DAY}.json").json()
    assert paper["id"] not in {p["id"] for p in listed["papers"]}
    words = " ".join(paper["title"].split()[:4])
    found = stranger.get("/search.json", params={"q": words, "mode": "fulltext"}).json()["papers"]
    assert paper["id"] not in {p["id"] for p in found}
    recompute_trending(store)
    assert paper["id"] not in {p["id"] for p in stranger.get("/trending.json?window=month").json()["papers"]}
    assert mod.get("/moderation.json").json()["reports"] == []   # resolved by the actions
    audit = mod.get("/admin/audit.json").json()["entries"]
    assert [(e["action"], e["kind"], e["reason"]) for e in audit] == [("hide", "paper", "not research"),
                                                                     ("hide", "comment", "spam")]
    # Nor in a digest: subscribers of the day get every paper but the hidden one.
    from papertrend.digest.build import build_digests

    now = utcnow()
    subscriber, _ = store.digests.upsert_pending("reader@example.org", "daily", [], [], [], now, now)
    store.digests.set_status(subscriber.id, "confirmed", now)
    assert build_digests(store, store.settings.replace(digest_max_papers=1000), "daily", DAY)["composed"] == 1
    sent = store.digests.sent_paper_ids([subscriber.id])[subscriber.id]
    assert len(sent) == len(listed["papers"]) and paper["id"] not in sent
    # Restored, it is back.
    mod.post("/moderation", data={"action": "restore", "kind": "paper", "target": paper["id"], "reason": "appeal",
                                  "csrf": mtoken})
    assert stranger.get(f"/papers/{paper['id']}").status_code == 200


def test_library_with_bibtex_and_saved_marks(store: Store, app: Starlette) -> None:
    reader = _client(app)
    sign_in(reader, "ada@example.org")
    papers = reader.get(f"/papers/date/{DAY}.json").json()["papers"][:3]
    token = csrf(reader, "/")
    for p in papers:
        assert reader.post("/save", data={"paper": p["id"], "action": "save", "csrf": token}).status_code == 303
    reader.post("/save", data={"paper": papers[1]["id"], "action": "unsave", "csrf": token})
    listed = reader.get("/library.json").json()
    assert [p["id"] for p in listed["papers"]] == [papers[2]["id"], papers[0]["id"]]
    assert listed["pagination"]["total"] == 2
    bib = reader.get("/library.bib")
    assert bib.status_code == 200 and bib.text.count("@") == 2 and f"eprint = {{{papers[0]['id']}}}" in bib.text
    assert _client(app).get("/library").status_code == 303    # signed out: sign in first


def test_profile_shows_submitted_upvoted_when_public_and_comments(store: Store, app: Starlette) -> None:
    ada, other = _client(app), _client(app)
    user = sign_in(ada, "ada@example.org")
    paper = _paper(ada)
    _vote(ada, paper["id"])
    ada.post("/comments", data={"paper": paper["id"], "body": "hello", "csrf": csrf(ada, "/")})
    data = other.get(f"/u/{user.name}.json").json()
    assert data["upvoted"] is None and [c["paper"] for c in data["comments"]] == [paper["id"]]
    ada.post("/profile", data={"votes_public": "1", "csrf": csrf(ada, "/")})
    assert other.get(f"/u/{user.name}.json").json()["upvoted"] == [paper["id"]]
    assert paper["title"][:30] in other.get(f"/u/{user.name}").text
    assert other.get("/u/nobody-here").status_code == 404


def test_local_votes_move_trending_and_explain_says_which_is_which(store: Store, app: Starlette, run_cli) -> None:
    readers = []
    for i in range(3):
        c = _client(app)
        sign_in(c, f"r{i}@example.org")
        readers.append(c)
    month = readers[0].get("/trending.json?window=month").json()["papers"]
    last = month[-1]
    for c in readers:
        _vote(c, last["id"])
    recompute_trending(store)
    row = store.trending.row("month", last["id"])
    assert row is not None and row.local_part > 0 and row.rank < last["rank"]
    assert "+3 upvotes here" in row.reason
    out = run_cli("rank", "explain", last["id"]).output
    assert "upvotes here" in out and "damped" in out


def test_the_count_says_what_it_counts(store: Store, app: Starlette) -> None:
    reader = _client(app)
    sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    _vote(reader, paper["id"])
    html = reader.get(f"/papers/{paper['id']}").text
    assert f"{paper['upvotes'] + 1} ({paper['upvotes']} on Hugging Face · 1 here)" in html
    assert f'title="Upvote · {paper["upvotes"]} on Hugging Face + 1 here"' in html


def test_a_vote_at_once_even_with_a_warm_page_cache(store: Store, app: Starlette) -> None:
    """The page cache is keyed by the data version, which the vote's event moves."""
    reader, stranger = _client(app), _client(app)
    sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    day = f"/papers/date/{DAY}"
    before = stranger.get(day)
    stranger.get(day)
    _vote(reader, paper["id"])
    after = stranger.get(day, headers={"if-none-match": before.headers["etag"]})
    assert after.status_code == 200 and f'<span class="n">{paper["upvotes"] + 1}</span>' in after.text


def test_moderation_from_the_command_line(store: Store, app: Starlette, run_cli) -> None:
    reader = _client(app)
    ada = sign_in(reader, "ada@example.org")
    paper = _paper(reader)
    reader.post("/report", data={"kind": "paper", "target": paper["id"], "reason": "duplicate", "csrf": csrf(reader)})
    assert "duplicate" in run_cli("moderation", "reports").output
    refused = run_cli("moderation", "act", "hide", "paper", paper["id"], "--by", ada.email, "--reason", "x", ok=False)
    assert refused.exit_code != 0 and "moderators" in refused.output
    from papertrend.accounts.signin import add_user

    add_user(store, "mod@example.org", "moderator")
    run_cli("moderation", "act", "hide", "paper", paper["id"], "--by", "mod@example.org", "--reason", "duplicate")
    run_cli("moderation", "act", "suspend", "user", ada.name, "--by", "mod@example.org", "--reason", "spam")
    assert store.community.hidden_paper_ids() == {paper["id"]} and store.accounts.get(ada.id).status == "suspended"
    log = run_cli("moderation", "audit", "--json").output
    assert '"reason": "spam"' in log and '"reason": "duplicate"' in log and '"actor": "mod"' in log
    assert run_cli("moderation", "reports", "--json").output.strip() == "[]"
    bad = run_cli("moderation", "act", "suspend", "paper", paper["id"], "--by", "mod@example.org", "--reason", "x",
                  ok=False)
    assert bad.exit_code != 0 and "suspend applies to: user" in bad.output


def test_upvote_and_save_from_trending_and_search(store: Store, app: Starlette) -> None:
    reader = _client(app)
    sign_in(reader, "ada@example.org")
    top = reader.get("/trending.json?window=month").json()["papers"][0]
    r = reader.post("/vote", data={"paper": top["id"], "action": "up", "csrf": csrf(reader, "/"),
                                   "next": "/trending?window=month"})
    assert r.headers["location"] == "/trending?window=month"
    assert _button(reader.get("/trending?window=month").text, top["id"]) == "down/true"
    words = " ".join(top["title"].split()[:6])
    found = reader.get("/search", params={"q": words, "mode": "fulltext"}).text
    assert _button(found, top["id"]) == "down/true" and 'value="save" aria-pressed="false"' in found
    trending = reader.get("/trending.json?window=month").json()["papers"][0]
    assert trending["upvotes_here"] == 1 and trending["upvotes_total"] == top["upvotes"] + 1


def test_text_postgresql_cannot_store_and_numbers_past_its_integers_are_clear_errors(store: Store,
                                                                                     app: Starlette) -> None:
    """A NUL in a form field and a comment number beyond 32 bits: SQLite would take or ignore
    them, PostgreSQL refuses them; on both stores the reader gets a 4xx naming the problem."""
    reader = _client(app)
    sign_in(reader, "nul@example.org")
    paper = _paper(reader)["id"]
    token = csrf(reader, "/")
    nul = reader.post("/comments", data={"paper": paper, "body": "before\x00after", "csrf": token},
                      headers={"accept": "application/json"})
    assert nul.status_code == 400 and "NUL character" in nul.text and "'body'" in nul.text, nul.text
    ok = reader.post("/comments", data={"paper": paper, "body": "a fine comment", "csrf": token},
                     headers={"accept": "application/json"})
    assert ok.status_code == 201
    big = str(2**31)
    assert reader.post("/comments", data={"paper": paper, "body": "a reply", "parent": big,
                                          "csrf": token}).status_code == 400
    assert reader.get(f"/comments/{big}/edit").status_code == 404
    assert reader.post(f"/comments/{big}/edit", data={"body": "x", "csrf": token}).status_code == 404
    assert store.community.comment(2**40) is None
    assert [c.body for c in store.community.thread(paper)] == ["a fine comment"]
