"""The Hugging Face–compatible papers API, so ``huggingface_hub`` (``HfApi(endpoint=...)``, the
``hf papers`` command line) and another papertrend's ``ingest hf --endpoint`` read this instance.

What the client (huggingface_hub 2.4.0) needs, each rule breaking it when missed:

- lists are bare JSON arrays; every datetime ends in ``Z`` (``2026-07-31T00:00:00.000Z``);
- a list item nests the paper (``paper``: id, title, authors as objects, publishedAt, summary,
  upvotes, discussionId) and keeps ``title``, ``publishedAt`` (the day it was listed),
  ``numComments``, ``submittedBy``, ``organization`` and the extras (``ai_summary``,
  ``ai_keywords``, ``projectPage``, ``githubRepo``, ``githubStars``) at the top level: the
  client copies leftover top-level keys over what it parsed, so ``authors``, ``upvotes``,
  ``summary`` and a comment list never appear there. The nested paper also carries Hugging
  Face's own keys (``submittedOnDailyAt``, ``submittedOnDailyBy``, the extras), which the
  client ignores and ``sources/hf_daily.py`` reads: that is how instances follow each other;
- errors are ``{"error": ...}`` with 400 or 404 (any other ``/api/`` path too, such as the
  ``/api/agent-harnesses`` the client may ask for: app.py's error handler answers JSON there);
- the client sends the user's own Hugging Face token on list calls: public reads never look at
  the Authorization header (so an unknown token is neither refused nor logged).

Writes (``POST /api/papers/{id}/comment`` with Hugging Face's body ``{"comment": "..."}``, and
``POST``/``DELETE /api/papers/{id}/upvote``) act for the account whose personal API token (made
on the account page) comes as ``Authorization: Bearer pt_...``, through the same functions and
rate limits as the site's forms; any other token is 401.

Hugging Face pages with ``p`` (0-based) and ``limit``, not the site's ``?page=``: the client
sends those, so this API keeps them (``web/paging.py`` is for the site's own lists).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..accounts import tokens
from ..errors import BadRequest, Forbidden, NotFound, PapertrendError, SignInRequired
from ..ids import is_valid_paper_id
from ..models import Paper, SearchFilters, User
from ..periods import PARSERS, Period, parse_date
from ..store import Store
from ..store.community import Counts
from .community import comment_as, comment_text, vote_as
from .paging import MAX_PAGE
from .render import Renderer, etag_for

LIMIT_DEFAULT = 50
LIMIT_MAX = 100
SEARCH_LIMIT_DEFAULT = 20
SORTS = ("publishedAt", "trending")
# sort=trending over a period ranks it by the trending window of the period's length.
TRENDING_WINDOW = {"date": "today", "week": "week", "month": "month"}


# -- the shapes ----------------------------------------------------------------------------------

def utc_moment(value: str | None) -> datetime | None:
    """A stored ISO date or datetime as an aware UTC datetime (none given means UTC); None when
    there is none or it does not parse."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def hf_datetime(value: str | None) -> str | None:
    """An ISO date or datetime as Hugging Face writes it: UTC, milliseconds, ``Z``."""
    moment = utc_moment(value)
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hf_user(name: str | None) -> dict[str, str] | None:
    """A person as a Hugging Face user object: a submitter (the local account that submitted
    the paper, else the name its daily list gave) or a comment's author. One name is kept per
    person, so it is both the username (``user``) and the full name."""
    if not name:
        return None
    return {"user": name, "fullname": name, "avatarUrl": ""}


def hf_organization(name: str | None) -> dict[str, str] | None:
    return {"name": name, "fullname": name, "avatarUrl": ""} if name else None


@dataclass(frozen=True)
class Local:
    """What this instance's community adds to the papers an answer lists (one query each):
    local upvotes and visible comments on top of the imported counts, and the local account
    that submitted a paper."""
    counts: dict[str, Counts] = field(default_factory=dict)
    submitters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, store: Store, papers: list[Paper]) -> "Local":
        ids = [p.id for p in papers]
        return cls(store.community.counts(ids), store.community.submitters(ids))

    def upvotes(self, paper: Paper) -> int:
        return paper.upvotes + self.counts.get(paper.id, Counts()).votes

    def comments(self, paper: Paper) -> int:
        return paper.num_comments + self.counts.get(paper.id, Counts()).comments

    def submitter(self, paper: Paper) -> dict[str, str] | None:
        return hf_user(self.submitters.get(paper.id) or paper.submitter)


def _extras(paper: Paper) -> dict[str, Any]:
    return {"ai_summary": paper.ai_summary, "ai_keywords": list(paper.ai_keywords),
            "projectPage": paper.project_page, "githubRepo": paper.code_url, "githubStars": paper.github_stars}


def paper_object(paper: Paper, local: Local) -> dict[str, Any]:
    """A paper as ``GET /api/papers/{id}`` answers it (flat, like Hugging Face's)."""
    return {
        "id": paper.id,
        "title": paper.title,
        "authors": [{"name": a.name} for a in paper.authors],
        "publishedAt": hf_datetime(paper.published or paper.list_date),
        "summary": paper.abstract,
        "upvotes": local.upvotes(paper),
        "numComments": local.comments(paper),
        # Comments belong to the paper itself here: its thread is named by its id.
        "discussionId": paper.id,
        "submittedOnDailyAt": hf_datetime(paper.daily_date),
        "submittedOnDailyBy": local.submitter(paper),
        "organization": hf_organization(paper.organization),
        **_extras(paper),
    }


def daily_item(paper: Paper, local: Local) -> dict[str, Any]:
    """A paper as a daily list or a search lists it (see the module's rules)."""
    nested = {key: value for key, value in paper_object(paper, local).items() if key != "numComments"}
    return {
        "paper": nested,
        "title": paper.title,
        "publishedAt": hf_datetime(paper.list_date or paper.published),
        "numComments": local.comments(paper),
        "submittedBy": local.submitter(paper),
        "organization": hf_organization(paper.organization),
        **_extras(paper),
    }


def daily_items(store: Store, papers: list[Paper]) -> list[dict[str, Any]]:
    """The visible ones of ``papers`` as list items, in their order."""
    shown = visible(store, papers)
    local = Local.of(store, shown)
    return [daily_item(p, local) for p in shown]


def visible(store: Store, papers: list[Paper]) -> list[Paper]:
    """The papers a stranger may see: those moderators hid are left out, of every API list and
    feed (the store's period and trending queries leave them out already; search, a personal
    digest and anything else listed here are checked against the hidden set)."""
    if not papers:
        return papers
    hidden = store.community.hidden_paper_ids()
    return [p for p in papers if p.id not in hidden] if hidden else papers


def _epoch_z(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(seconds * 1000) % 1000:03d}Z"


def comments_of(store: Store, paper: Paper) -> list[dict[str, Any]]:
    """A paper's shown comments, oldest first, as ``?field=comments`` lists them: hidden and
    deleted ones are left out (a reply to them stays, with its ``parentId``)."""
    shown = [c for top in store.community.thread(paper.id) for c in (top, *top.replies) if c.status == "visible"]
    shown.sort(key=lambda c: (c.created_at, c.id))
    return [{"id": str(c.id), "author": hf_user(c.author), "text": c.body, "createdAt": _epoch_z(c.created_at),
             "parentId": str(c.parent_id) if c.parent_id is not None else None,
             "editedAt": _epoch_z(c.edited_at) if c.edited_at else None} for c in shown]


# -- the endpoints -------------------------------------------------------------------------------

def api_user(request: Request) -> User:
    """The account whose API token the request carries as ``Authorization: Bearer``; 401 for
    none or an unknown one, 403 for a suspended account. Only the write endpoints call this:
    public reads never look at the header."""
    user = tokens.user_for(request.app.state.store, request.headers.get("authorization"))
    if user is None:
        raise SignInRequired("this needs a personal API token of an account here, sent as "
                             "Authorization: Bearer pt_... (make one on your account page)")
    if not user.has_role("reader"):
        raise Forbidden("This account is suspended.")
    return user


def json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _api(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
    """An endpoint run in the thread pool, whose errors are always JSON ``{"error": ...}``
    (the client shows that text), whatever the request's Accept header says. A GET the page
    cache holds (``_remembered``) is answered on the event loop, without a thread."""
    async def endpoint(request: Request) -> Response:
        version = request.app.state.data_version.peek()
        if version is not None and request.method == "GET":
            renderer: Renderer = request.app.state.renderer
            hit = renderer.remembered(request, etag_for(request, "api", version=version), True)
            if hit is not None:
                return hit
        try:
            if request.method != "GET":
                request.state.body = await request.body()   # app.py's BodyLimit caps it
            return await run_in_threadpool(handler, request)
        except PapertrendError as exc:
            return json_error(exc.status_code, exc.message)

    endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
    return endpoint


def _whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    if name not in request.query_params:
        return default
    raw = request.query_params[name].strip()
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:20]!r}")
    return int(raw)


def _period(request: Request, store: Store) -> Period | None:
    # A parameter that is there must be right, empty or not (the client leaves out what it has not).
    given = [(kind, request.query_params[kind].strip()) for kind in ("date", "week", "month")
             if kind in request.query_params]
    if len(given) > 1:
        raise BadRequest("give one of date, week and month, not " + " and ".join(k for k, _ in given))
    if given:
        kind, value = given[0]
        try:
            return PARSERS[kind](value)
        except BadRequest as exc:
            raise BadRequest(f"{kind}: {exc.message}") from None
    return None


def _remembered(request: Request, data: Callable[[], Any]) -> Response:
    """``data()`` as JSON through the page cache, under an ETag of the data version, path and
    query (304 when the client has it): the same for every caller, as every read here is."""
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, "api")
    if (hit := renderer.cached(request, etag, True)) is not None:
        return hit
    return renderer.respond(request, etag, "", {}, data, True)


def daily_papers(request: Request) -> Response:
    """``GET /api/daily_papers``: a day's (week's, month's) papers; the most recent day by default."""
    return _remembered(request, lambda: _daily_papers(request))


def _daily_papers(request: Request) -> list[dict[str, Any]]:
    store: Store = request.app.state.store
    sort = request.query_params.get("sort", "publishedAt").strip()
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, not {sort[:20]!r}")
    limit = _whole(request, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX)
    page = _whole(request, "p", 0, 0, MAX_PAGE)
    submitter = request.query_params.get("submitter", "").strip()[:100] or None
    period = _period(request, store)
    offset = page * limit
    if period is None and sort == "trending" and submitter is None:
        # What is trending now: the trending page's default window, in its explained order.
        ranked = store.trending.page("week", limit=limit, offset=offset)
        return daily_items(store, [p for p, _ in ranked])
    if period is None and submitter is None:
        latest = store.papers.latest_list_date()
        if latest is None:
            return []
        period = parse_date(latest)
    start, end = (period.start.isoformat(), period.end.isoformat()) if period else ("0000-01-01", "9999-12-31")
    if sort == "trending":
        papers = _by_trending(store, TRENDING_WINDOW[period.kind] if period else "month", start, end, submitter)
        papers = papers[offset:offset + limit]
    else:
        papers = store.papers.in_range(start, end, sort="published", limit=limit, offset=offset, submitter=submitter)
    return daily_items(store, papers)


def _by_trending(store: Store, window: str, start: str, end: str, submitter: str | None) -> list[Paper]:
    """A period's papers by their trending score in ``window`` (papers it does not rank follow,
    most upvoted first)."""
    papers = store.papers.in_range(start, end, submitter=submitter)
    scores = {p.id: row.score for p, row in store.trending.page(window, limit=max(len(papers), 1) * 4)}
    return sorted(papers, key=lambda p: (-scores.get(p.id, -1.0), -p.upvotes, p.id))


async def search_papers(request: Request) -> Response:
    """``GET /api/papers/search?q=&limit=``: papertrend's hybrid search, in its search threads."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(request.app.state.search_pool, _search, request)
    except PapertrendError as exc:
        return json_error(exc.status_code, exc.message)


def _search(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()
    if not q:
        raise BadRequest("q: give a search query, e.g. ?q=diffusion")
    if len(q) > 1000:
        raise BadRequest("q: a query is at most 1000 characters")
    limit = _whole(request, "limit", SEARCH_LIMIT_DEFAULT, 1, LIMIT_MAX)
    results = request.app.state.searcher().search(q, SearchFilters(), "relevance", "hybrid", limit=limit)
    return JSONResponse(daily_items(request.app.state.store, [h.paper for h in results.hits]),
                        headers={"cache-control": "public, max-age=60"})


def _paper(request: Request) -> Paper:
    paper_id = request.path_params["paper_id"]
    store: Store = request.app.state.store
    paper = store.papers.get(paper_id) if is_valid_paper_id(paper_id) else None
    if paper is None or store.community.is_hidden(paper.id):
        raise NotFound(f"No paper with id {paper_id[:80]!r} is known here.")
    return paper


def paper_info(request: Request) -> Response:
    """``GET /api/papers/{id}``; with ``?field=comments`` the paper's comments too."""
    field = request.query_params.get("field")
    if field is not None and field != "comments":
        raise BadRequest(f"field must be 'comments' when given, not {field[:20]!r}")
    def data() -> dict[str, Any]:
        paper = _paper(request)
        store: Store = request.app.state.store
        out = paper_object(paper, Local.of(store, [paper]))
        if field == "comments":
            out["comments"] = comments_of(request.app.state.store, paper)
        return out

    return _remembered(request, data)


def _json_body(request: Request) -> dict[str, Any]:
    raw: bytes = request.state.body
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body must be JSON: {exc}"[:200]) from None
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object, like {"comment": "..."}')
    return body


def post_comment(request: Request) -> Response:
    """``POST /api/papers/{id}/comment`` with ``{"comment": "..."}`` (Hugging Face's path and
    body; ``parentId`` answers a comment): 201 with the comment, for an account's API token."""
    paper = _paper(request)
    user = api_user(request)
    body = _json_body(request)
    text, parent = body.get("comment"), body.get("parentId")
    if not isinstance(text, str):
        raise BadRequest('comment: give the comment\'s text as a string, like {"comment": "..."}')
    if parent is not None and not (isinstance(parent, (str, int)) and not isinstance(parent, bool)
                                   and str(parent).isascii() and str(parent).isdigit() and len(str(parent)) < 18):
        raise BadRequest("parentId must be the id of a comment on this paper")
    new_id = comment_as(request, user, paper, comment_text(request, text), int(parent) if parent is not None else None)
    store: Store = request.app.state.store
    made = [c for c in comments_of(store, paper) if c["id"] == str(new_id)]
    return JSONResponse(made[0] if made else {"id": str(new_id)}, status_code=201,
                        headers={"cache-control": "no-store"})


def upvote(request: Request) -> Response:
    """``POST`` (upvote) and ``DELETE`` (take it back) ``/api/papers/{id}/upvote``, for an
    account's API token: one upvote per account, as on the site."""
    paper = _paper(request)
    user = api_user(request)
    up = request.method == "POST"
    here = vote_as(request, user, paper, up)
    return JSONResponse({"id": paper.id, "upvoted": up, "upvotes": paper.upvotes + here},
                        headers={"cache-control": "no-store"})


ROUTES = [
    Route("/api/daily_papers", _api(daily_papers), name="api_daily_papers"),
    Route("/api/papers/search", search_papers, name="api_search"),
    Route("/api/papers/{paper_id:path}/comment", _api(post_comment), methods=["POST"], name="api_comment"),
    Route("/api/papers/{paper_id:path}/upvote", _api(upvote), methods=["POST", "DELETE"], name="api_upvote"),
    Route("/api/papers/{paper_id:path}", _api(paper_info), name="api_paper"),
]
