"""The research community's pages: upvotes, saving to the library, submissions, comments,
reports, profiles, moderation and its audit log.

Every POST goes through ``security.checked_form`` (CSRF and Origin), then the account
(``require``: suspended accounts are refused), then a per-account rate limit
(``store.coordination.hit``). A signed-out reader who clicks upvote, save or comment is sent to
sign in and comes back to the paper. Answers are JSON when asked for (``community.js`` votes
without reloading), else a redirect back to where the form was.

What is per person on shared, cached pages (did I upvote or save this, may I edit this
comment) is spliced in per visitor by ``security.personalise`` from placeholders; the counts
are part of the cached page, which every change here makes stale at once (the data version
includes the community's event log).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from typing import Any
from urllib.parse import quote

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from ..errors import BadRequest, Forbidden, NotFound, PapertrendError, TooManyRequests
from ..ids import is_valid_paper_id
from ..models import Paper, User
from ..store import Store
from ..store.community import Counts
from . import comment_markdown
from .paging import Pagination
from .render import Renderer, bibtex, wants_json
from .security import checked_form, client_address, require, visitor

log = logging.getLogger(__name__)

REPORT_KINDS = ("paper", "comment")


# -- what list pages show -----------------------------------------------------------------------

def counts_of(store: Store, papers: list[Paper]) -> dict[str, Counts]:
    """Local upvotes and comments of the papers a page lists (one query each)."""
    return store.community.counts([p.id for p in papers])


def paper_json(paper: Paper, counts: dict[str, Counts]) -> dict[str, Any]:
    """A paper's JSON with what the community added: ``upvotes`` stays the imported Hugging
    Face count; ``upvotes_here`` are the local votes and ``upvotes_total`` their sum."""
    c = counts.get(paper.id, Counts())
    return {**paper.to_json(), "upvotes_here": c.votes, "upvotes_total": paper.upvotes + c.votes,
            "comments_here": c.comments}


# -- shared helpers -----------------------------------------------------------------------------

def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _limit(request: Request, user: User, what: str, window: float, limit: int) -> None:
    if not _store(request).coordination.hit(f"{what}:{user.id}", time.time(), window, limit):
        raise TooManyRequests(f"Too many {what}s from your account just now. Wait a little and try again.")


def _changed(request: Request) -> None:
    """Pages in this process show the change on the next request, not a second later."""
    request.app.state.data_version.invalidate()


def _paper_path(paper_id: str) -> str:
    return "/papers/" + quote(paper_id, safe="/")


def _back(form: FormData, fallback: str) -> str:
    """Where a form returns to: a path on this site only (never an open redirect)."""
    value = str(form.get("next", ""))
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 500:
        return value
    return fallback


def _signed_in(request: Request, back: str) -> User | Response:
    """The account, or (signed out) the way to sign in and come back to ``back``."""
    if visitor(request).user is None:
        target = f"/signin?next={quote(back, safe='')}"
        if wants_json(request):
            return JSONResponse({"error": "Sign in to do this.", "status": 401, "signin": target}, status_code=401)
        return RedirectResponse(target, status_code=303)
    return require(request)


def _paper(request: Request, paper_id: str) -> Paper:
    store = _store(request)
    paper = store.papers.get(paper_id) if is_valid_paper_id(paper_id) else None
    if paper is None or store.community.is_hidden(paper_id):
        raise NotFound(f"No paper with id {paper_id[:80]!r} is known here.")
    return paper


def _client(request: Request) -> str:
    """A keyed hash of the address: bursts from one client are damped, and no address is stored."""
    key = str(request.app.state.settings.secret_key).encode()
    return hmac.new(key, client_address(request).encode(), hashlib.sha256).hexdigest()[:16]


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    renderer: Renderer = request.app.state.renderer
    return renderer.private_page(request, template, context, status)


def _form_view(handler: Any) -> Any:
    """An async endpoint: the CSRF-checked form on the event loop, the work in the thread pool."""
    async def endpoint(request: Request) -> Response:
        form = await checked_form(request)
        result: Response = await run_in_threadpool(handler, request, form)
        return result

    endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
    return endpoint


# -- upvotes and the library --------------------------------------------------------------------

def _paper_form(request: Request, form: FormData,
                actions: tuple[str, str]) -> tuple[str, User, Paper, str] | Response:
    """What a vote or save form names: where to return, the signed-in account, the (visible)
    paper and the action; for a stranger, the way to sign in and back to the paper."""
    paper_id = str(form.get("paper", ""))[:100]
    back = _back(form, _paper_path(paper_id))
    user = _signed_in(request, _paper_path(paper_id) if is_valid_paper_id(paper_id) else "/")
    if isinstance(user, Response):
        return user
    action = str(form.get("action", ""))
    if action not in actions:
        raise BadRequest(f"action must be {actions[0]} or {actions[1]}")
    return back, user, _paper(request, paper_id), action


def _vote(request: Request, form: FormData) -> Response:
    """Upvote (``action=up``) or take it back (``down``). The action is what the button showed,
    never a toggle: a double click sends "up" twice and makes one vote."""
    named = _paper_form(request, form, ("up", "down"))
    if isinstance(named, Response):
        return named
    back, user, paper, action = named
    here = vote_as(request, user, paper, action == "up")
    if wants_json(request):
        return JSONResponse({"paper": paper.id, "voted": action == "up", "upvotes_here": here,
                             "upvotes_imported": paper.upvotes, "upvotes_total": paper.upvotes + here},
                            headers={"cache-control": "no-store"})
    return RedirectResponse(back, status_code=303)


def vote_as(request: Request, user: User, paper: Paper, up: bool) -> int:
    """The account's upvote on (or taken back from) a visible paper, under the vote rate limit;
    the paper's local upvotes after it. The upvote form and the API both vote through this."""
    _limit(request, user, "vote", 60, request.app.state.settings.votes_per_minute)
    store = _store(request)
    if store.community.vote(user.id, paper.id, up, time.time(), _client(request)):
        _changed(request)
        request.app.state.trending_refresh.nudge()
    return store.community.vote_count(paper.id)


def _save(request: Request, form: FormData) -> Response:
    """Save a paper to the library (``action=save``) or take it out (``unsave``)."""
    named = _paper_form(request, form, ("save", "unsave"))
    if isinstance(named, Response):
        return named
    back, user, paper, action = named
    _limit(request, user, "vote", 60, request.app.state.settings.votes_per_minute)
    if _store(request).community.save(user.id, paper.id, action == "save", time.time()):
        _changed(request)
    if wants_json(request):
        return JSONResponse({"paper": paper.id, "saved": action == "save"}, headers={"cache-control": "no-store"})
    return RedirectResponse(back, status_code=303)


vote_post = _form_view(_vote)
save_post = _form_view(_save)


def library_page(request: Request) -> Response:
    """The reader's saved papers, newest first; ``/library.bib`` is BibTeX for all of them."""
    user = require(request)
    store = _store(request)
    if request.url.path.endswith(".bib"):
        every = store.community.library(user.id, limit=10_000)
        stored = store.papers.get_many(every)
        body = "\n\n".join(bibtex(stored[i]) for i in every if i in stored) + "\n"
        return PlainTextResponse(body, media_type="application/x-bibtex; charset=utf-8",
                                 headers={"cache-control": "no-store",
                                          "content-disposition": 'inline; filename="library.bib"'})
    pagination = Pagination.of(request, request.app.state.settings.page_size, store.community.library_size(user.id))
    ids = store.community.library(user.id, limit=pagination.per_page, offset=pagination.offset)
    found = store.papers.get_many(ids)
    papers = [found[i] for i in ids if i in found]
    counts = counts_of(store, papers)
    if wants_json(request):
        return JSONResponse({"papers": [paper_json(p, counts) for p in papers], "pagination": pagination.to_json()},
                            headers={"cache-control": "no-store"})
    return _page(request, "library.html", {"papers": papers, "counts": counts, "pagination": pagination})


# -- submissions ---------------------------------------------------------------------------------

def submit_page(request: Request) -> Response:
    require(request)
    return _page(request, "submit.html", {"value": "", "error": None})


def _submit(request: Request, form: FormData) -> Response:
    """Submit a paper by arXiv id or link; an existing paper gets the reader's upvote instead."""
    from ..ingest.submit import submit_paper

    user = _signed_in(request, "/submit")
    if isinstance(user, Response):
        return user
    value = str(form.get("paper", ""))[:300]
    settings = request.app.state.settings
    _limit(request, user, "submission", 60, 5)   # arXiv is asked at most this often per account
    try:
        done = submit_paper(_store(request), settings, user, value)
    except PapertrendError as exc:
        if wants_json(request):
            raise
        return _page(request, "submit.html", {"value": value, "error": exc.message}, exc.status_code)
    store = _store(request)
    store.community.vote(user.id, done.paper_id, True, time.time(), _client(request))
    _changed(request)
    request.app.state.trending_refresh.nudge()
    if wants_json(request):
        return JSONResponse({"paper": done.paper_id, "new": done.new}, status_code=201 if done.new else 200)
    return RedirectResponse(_paper_path(done.paper_id) + ("" if done.new else "?already=1"), status_code=303)


submit_post = _form_view(_submit)


# -- comments -------------------------------------------------------------------------------------

def _body(request: Request, form: FormData) -> str:
    return comment_text(request, str(form.get("body", "")))


def comment_text(request: Request, raw: str) -> str:
    """A comment's text, checked: not empty, at most ``comment_max_chars``."""
    body = raw.replace("\r\n", "\n").strip()
    limit = request.app.state.settings.comment_max_chars
    if not body:
        raise BadRequest("A comment needs some text.")
    if len(body) > limit:
        raise BadRequest(f"A comment may be at most {limit:,} characters; this one has {len(body):,}.")
    return body


def _comment_id(request: Request) -> int:
    raw = str(request.path_params.get("comment_id", ""))
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound("No such comment.")
    return int(raw)


def _comment(request: Request, form: FormData) -> Response:
    """A new comment, or (``parent``) a reply; replies to replies join the thread."""
    paper_id = str(form.get("paper", ""))[:100]
    back = _paper_path(paper_id) if is_valid_paper_id(paper_id) else "/"
    user = _signed_in(request, back + "#comments")
    if isinstance(user, Response):
        return user
    paper = _paper(request, paper_id)
    body = _body(request, form)
    parent_raw = str(form.get("parent", "")).strip()
    if parent_raw and (not parent_raw.isascii() or not parent_raw.isdigit() or len(parent_raw) > 18):
        raise BadRequest("parent must be a comment number")
    new_id = comment_as(request, user, paper, body, int(parent_raw) if parent_raw else None)
    if wants_json(request):
        return JSONResponse({"id": new_id, "paper": paper.id}, status_code=201)
    return RedirectResponse(f"{_paper_path(paper.id)}#c{new_id}", status_code=303)


def comment_as(request: Request, user: User, paper: Paper, body: str, parent_id: int | None) -> int:
    """The account's new comment (checked text) on a visible paper, under the comment rate
    limit; its id. The comment form and the API both comment through this."""
    _limit(request, user, "comment", 3600, request.app.state.settings.comments_per_hour)
    new_id = _store(request).community.add_comment(paper.id, user.id, parent_id, body, time.time())
    if new_id is None:
        raise BadRequest("The comment you replied to is not on this paper.")
    _changed(request)
    return new_id


def comment_edit_page(request: Request) -> Response:
    user = require(request)
    found = _store(request).community.comment(_comment_id(request))
    if found is None or found.status != "visible":
        raise NotFound("No such comment.")
    if found.user_id != user.id:
        raise Forbidden("Only its author can edit a comment.")
    return _page(request, "comment_edit.html", {"comment": found, "paper_path": _paper_path(found.paper_id)})


def _comment_edit(request: Request, form: FormData) -> Response:
    user = require(request)
    comment_id = _comment_id(request)
    store = _store(request)
    found = store.community.comment(comment_id)
    if found is None:
        raise NotFound("No such comment.")
    _limit(request, user, "comment", 3600, request.app.state.settings.comments_per_hour)
    if form.get("action") == "delete":
        done = store.community.delete_comment(comment_id, user.id, time.time())
    else:
        done = store.community.edit_comment(comment_id, user.id, _body(request, form), time.time())
    if not done:
        raise Forbidden("Only its author can change a comment, and not once it is deleted or hidden.")
    _changed(request)
    if wants_json(request):
        return JSONResponse({"id": comment_id, "ok": True})
    return RedirectResponse(f"{_paper_path(found.paper_id)}#comments", status_code=303)


comment_post = _form_view(_comment)
comment_edit_post = _form_view(_comment_edit)


def comments_of(store: Store, paper_id: str) -> tuple[list[Any], dict[int, Any]]:
    """A paper's comment threads and each shown comment's rendered Markdown (for paper.html)."""
    threads = store.community.thread(paper_id)
    rendered = {}
    for top in threads:
        for c in [top, *top.replies]:
            if c.status == "visible":
                rendered[c.id] = comment_markdown.render(c.body)
    return threads, rendered


# -- reports and moderation -----------------------------------------------------------------------

def _report(request: Request, form: FormData) -> Response:
    kind, target = str(form.get("kind", "")), str(form.get("target", ""))[:64]
    if kind not in REPORT_KINDS:
        raise BadRequest(f"kind must be one of {', '.join(REPORT_KINDS)}")
    back = _back(form, "/")
    user = _signed_in(request, back)
    if isinstance(user, Response):
        return user
    reason = " ".join(str(form.get("reason", "")).split())[:500] or "no reason given"
    store = _store(request)
    exists = (kind == "paper" and is_valid_paper_id(target) and store.papers.get(target) is not None) or (
        kind == "comment" and target.isascii() and target.isdigit() and len(target) < 18
        and store.community.comment(int(target)) is not None)
    if not exists:
        raise NotFound(f"No {kind} {target[:40]!r} to report.")
    _limit(request, user, "report", 3600, 30)
    store.community.report(kind, target, user.id, reason, time.time())
    if wants_json(request):
        return JSONResponse({"reported": True})
    return _page(request, "reported.html", {"back": back})


report_post = _form_view(_report)


def moderation_page(request: Request) -> Response:
    """The moderators' queue: open reports, each with what it points at."""
    require(request, "moderator")
    store = _store(request)
    reports = store.community.open_reports()
    comments = {r.target: store.community.comment(int(r.target)) for r in reports if r.kind == "comment"}
    papers = store.papers.get_many([r.target for r in reports if r.kind == "paper"])
    if wants_json(request):
        return JSONResponse({"reports": [vars(r) for r in reports]}, headers={"cache-control": "no-store"})
    rendered = {k: comment_markdown.render(c.body) for k, c in comments.items() if c is not None}
    return _page(request, "moderation.html", {"reports": reports, "comments": comments, "papers": papers,
                                              "rendered": rendered})


def _moderate(request: Request, form: FormData) -> Response:
    """Hide or restore a paper or comment, suspend or restore an account, or dismiss reports;
    always with a reason, recorded in the audit log."""
    from ..accounts.moderation import moderate

    actor = require(request, "moderator")
    _limit(request, actor, "moderation", 60, 120)
    kind = str(form.get("kind", ""))
    target = moderate(_store(request), actor, str(form.get("action", "")), kind, str(form.get("target", "")),
                      str(form.get("reason", "")), time.time())
    _changed(request)
    if kind == "paper":
        request.app.state.trending_refresh.nudge()
    if wants_json(request):
        return JSONResponse({"ok": True, "action": form.get("action"), "kind": kind, "target": target})
    return RedirectResponse(_back(form, "/moderation"), status_code=303)


moderate_post = _form_view(_moderate)


def audit_page(request: Request) -> Response:
    """Every moderation action: who, what, which, why, when."""
    require(request, "moderator")
    store = _store(request)
    pagination = Pagination.of(request, 100, store.community.audit_size())
    entries = store.community.audit(limit=pagination.per_page, offset=pagination.offset)
    if wants_json(request):
        return JSONResponse({"entries": [vars(e) for e in entries], "pagination": pagination.to_json()},
                            headers={"cache-control": "no-store"})
    return _page(request, "audit.html", {"entries": entries, "pagination": pagination})


# -- profiles ----------------------------------------------------------------------------------------

def profile_page(request: Request) -> Response:
    """``/u/<name>``: the papers they submitted, upvoted (when they made that public) and
    commented on."""
    name = str(request.path_params.get("username", ""))
    as_json = name.endswith(".json") or wants_json(request)
    name = name.removesuffix(".json")[:60]
    store = _store(request)
    person = store.community.user_by_name(name)
    if person is None:
        raise NotFound(f"No reader called {name[:40]!r}.")
    hidden = store.community.hidden_paper_ids()
    public = store.community.votes_public(person.id)
    me = visitor(request).user
    submitted = [i for i in store.community.submitted_by(person.id) if i not in hidden]
    upvoted = [i for i in store.community.upvoted_by(person.id) if i not in hidden] if public else []
    comments = [c for c in store.community.comments_by(person.id) if c.paper_id not in hidden]
    papers = store.papers.get_many(submitted + upvoted + [c.paper_id for c in comments])
    if as_json:
        return JSONResponse({"name": person.name, "submitted": submitted, "upvoted": upvoted if public else None,
                             "comments": [{"id": c.id, "paper": c.paper_id, "created_at": c.created_at}
                                          for c in comments]}, headers={"cache-control": "no-store"})
    return _page(request, "profile.html", {"person": person, "public": public, "own": me is not None and
                                           me.id == person.id, "submitted": submitted, "upvoted": upvoted,
                                           "comments": comments, "papers": papers})


def _profile_settings(request: Request, form: FormData) -> Response:
    user = require(request)
    _limit(request, user, "vote", 60, request.app.state.settings.votes_per_minute)
    _store(request).community.set_votes_public(user.id, form.get("votes_public") in ("1", "on", "true"))
    return RedirectResponse(f"/u/{quote(user.name)}", status_code=303)


profile_post = _form_view(_profile_settings)


# -- trending follows the votes -------------------------------------------------------------------

class TrendingRefresh:
    """Recomputes trending a few seconds after a vote (``trending_refresh_seconds``), once for
    all the votes in between, in a thread of its own; 0 leaves it to the worker's schedule."""

    def __init__(self, store: Store, delay: float, on_done: Any = None) -> None:
        self.store, self.delay, self.on_done = store, delay, on_done
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.runs = 0

    def nudge(self) -> None:
        if self.delay <= 0:
            return
        with self._lock:
            if self._timer is None and not self._stopped:
                self._timer = threading.Timer(self.delay, self._run)
                self._timer.daemon = True
                self._timer.start()

    def _run(self) -> None:
        from ..rank.recompute import recompute_trending

        with self._lock:
            self._timer = None
        try:
            recompute_trending(self.store)
            self.runs += 1
            if self.on_done is not None:
                self.on_done()   # this process's pages show the new ranking at once
        except (PapertrendError, SQLAlchemyError) as exc:  # the worker's next run catches up
            log.warning("trending recompute after a vote failed: %s", exc)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
