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

Hugging Face pages with ``p`` (0-based) and ``limit``, not the site's ``?page=``: the client
sends those, so this API keeps them (``web/paging.py`` is for the site's own lists).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import BadRequest, NotFound, PapertrendError
from ..ids import is_valid_paper_id
from ..models import Paper, SearchFilters, User
from ..periods import PARSERS, Period, parse_date
from ..store import Store
from .paging import MAX_PAGE
from .render import Renderer, etag_for

LIMIT_DEFAULT = 50
LIMIT_MAX = 100
SEARCH_LIMIT_DEFAULT = 20
SORTS = ("publishedAt", "trending")
# sort=trending over a period ranks it by the trending window of the period's length.
TRENDING_WINDOW = {"date": "today", "week": "week", "month": "month"}


# -- the shapes ----------------------------------------------------------------------------------

def hf_datetime(value: str | None) -> str | None:
    """An ISO date or datetime as Hugging Face writes it: UTC, milliseconds, ``Z``."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hf_user(name: str | None) -> dict[str, str] | None:
    """A submitter as a Hugging Face user object. The store keeps one name per submitter (the
    name a daily list showed), so it is both the username (``user``) and the full name."""
    if not name:
        return None
    return {"user": name, "fullname": name, "avatarUrl": ""}


def hf_organization(name: str | None) -> dict[str, str] | None:
    return {"name": name, "fullname": name, "avatarUrl": ""} if name else None


def _extras(paper: Paper) -> dict[str, Any]:
    return {"ai_summary": paper.ai_summary, "ai_keywords": list(paper.ai_keywords),
            "projectPage": paper.project_page, "githubRepo": paper.code_url, "githubStars": paper.github_stars}


def paper_object(paper: Paper) -> dict[str, Any]:
    """A paper as ``GET /api/papers/{id}`` answers it (flat, like Hugging Face's)."""
    return {
        "id": paper.id,
        "title": paper.title,
        "authors": [{"name": a.name} for a in paper.authors],
        "publishedAt": hf_datetime(paper.published or paper.list_date),
        "summary": paper.abstract,
        "upvotes": paper.upvotes,
        "numComments": paper.num_comments,
        # Comments belong to the paper itself here: its thread is named by its id.
        "discussionId": paper.id,
        "submittedOnDailyAt": hf_datetime(paper.daily_date),
        "submittedOnDailyBy": hf_user(paper.submitter),
        "organization": hf_organization(paper.organization),
        **_extras(paper),
    }


def daily_item(paper: Paper) -> dict[str, Any]:
    """A paper as a daily list or a search lists it (see the module's rules)."""
    nested = {key: value for key, value in paper_object(paper).items() if key != "numComments"}
    return {
        "paper": nested,
        "title": paper.title,
        "publishedAt": hf_datetime(paper.list_date or paper.published),
        "numComments": paper.num_comments,
        "submittedBy": hf_user(paper.submitter),
        "organization": hf_organization(paper.organization),
        **_extras(paper),
    }


# -- the seams the community features plug into --------------------------------------------------

def visible(papers: list[Paper]) -> list[Paper]:
    """The papers a stranger may see. Every stored paper is public: the store has no hidden
    (moderated) papers yet; when it has, they are left out here, for every API list and feed."""
    return papers


def comments_of(store: Store, paper: Paper) -> list[dict[str, Any]]:
    """A paper's comments, oldest first, as ``?field=comments`` lists them. The store keeps no
    comment text (imports bring only their count, ``numComments``), so the list is empty."""
    return []


def api_user(request: Request) -> User | None:
    """The account whose API token the request carries as ``Authorization: Bearer``. This
    instance issues no API tokens yet, so no token names an account. Only the write endpoints
    call this: public reads never look at the header."""
    return None


def _signed_in(request: Request) -> User:
    user = api_user(request)
    if user is None:
        raise _Unauthorized("this needs an API token of an account here (Authorization: Bearer <token>), "
                            "and this instance has not issued any")
    return user


class _Unauthorized(PapertrendError):
    status_code = 401


# -- the endpoints -------------------------------------------------------------------------------

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
        return [daily_item(p) for p in visible([p for p, _ in ranked])]
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
    return [daily_item(p) for p in visible(papers)]


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
    return JSONResponse([daily_item(p) for p in visible([h.paper for h in results.hits])],
                        headers={"cache-control": "public, max-age=60"})


def _paper(request: Request) -> Paper:
    paper_id = request.path_params["paper_id"]
    store: Store = request.app.state.store
    paper = store.papers.get(paper_id) if is_valid_paper_id(paper_id) else None
    if paper is None or not visible([paper]):
        raise NotFound(f"No paper with id {paper_id[:80]!r} is known here.")
    return paper


def paper_info(request: Request) -> Response:
    """``GET /api/papers/{id}``; with ``?field=comments`` the paper's comments too."""
    field = request.query_params.get("field")
    if field is not None and field != "comments":
        raise BadRequest(f"field must be 'comments' when given, not {field[:20]!r}")
    def data() -> dict[str, Any]:
        paper = _paper(request)
        out = paper_object(paper)
        if field == "comments":
            out["comments"] = comments_of(request.app.state.store, paper)
        return out

    return _remembered(request, data)


def post_comment(request: Request) -> Response:
    """``POST /api/papers/{id}/comment``, as Hugging Face names it: for an account's API token."""
    _paper(request)
    _signed_in(request)
    raise BadRequest("comments cannot be stored here")  # pragma: no cover - no token names an account


def upvote(request: Request) -> Response:
    """``POST`` (and ``DELETE``) ``/api/papers/{id}/upvote``: for an account's API token."""
    _paper(request)
    _signed_in(request)
    raise BadRequest("upvotes cannot be stored here")  # pragma: no cover - no token names an account


ROUTES = [
    Route("/api/daily_papers", _api(daily_papers), name="api_daily_papers"),
    Route("/api/papers/search", search_papers, name="api_search"),
    Route("/api/papers/{paper_id:path}/comment", _api(post_comment), methods=["POST"], name="api_comment"),
    Route("/api/papers/{paper_id:path}/upvote", _api(upvote), methods=["POST", "DELETE"], name="api_upvote"),
    Route("/api/papers/{paper_id:path}", _api(paper_info), name="api_paper"),
]
