"""Page handlers. Each serves HTML and JSON; errors are raised, the app's handler renders them.

Handlers that read the store or the search indexes are plain ``def``: Starlette runs them in its
thread pool, so the event loop stays free for other requests (see app.py). Pages that the page
cache may hold are served by ``memory_first``; searches run in their own threads (search_page).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any, TypedDict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from ..errors import BadRequest, NotFound
from ..ids import is_valid_paper_id
from ..periods import PARSERS, Period, parse_date, period_containing
from ..store import Store
from ..models import SearchFilters
from . import feeds
from .paging import Pagination, requested_page
from .community import comments_of, counts_of, paper_json
from .render import Renderer, bibtex, etag_for, wants_json
from .security import cookie_names, require

if TYPE_CHECKING:
    from markupsafe import Markup

    from ..models import Paper
    from ..store.trending import TrendingRow


def memory_first(handler: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that answers from the page cache on the event loop (a dict lookup, no I/O)
    and runs ``handler`` in the thread pool otherwise: a cached page then never waits for a
    thread, nor passes the interpreter lock back and forth with one."""
    async def endpoint(request: Request) -> Response:
        version = request.app.state.data_version.peek()
        # A signed-in visitor's menu needs their account from the store: not on the event loop.
        signed_in = cookie_names(request.app.state.settings)[1] in request.cookies
        if version is not None and not signed_in:
            as_json = wants_json(request)  # what each handler puts in its ETag
            hit = request.app.state.renderer.remembered(request, etag_for(request, as_json, version=version), as_json)
            if hit is not None:
                return hit
        return await run_in_threadpool(handler, request)

    endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
    return endpoint


def _split_json(key: str) -> tuple[str, bool]:
    return (key[:-5], True) if key.endswith(".json") else (key, False)


def _wants_json(request: Request, suffix: bool) -> bool:
    return suffix or wants_json(request)


def healthz(request: Request) -> Response:
    """Liveness, and whether this worker's search indexes are loaded (each worker process loads
    its own; ``worker`` tells them apart behind one port)."""
    store: Store = request.app.state.store
    searcher = request.app.state.searcher()
    search = {"ready": searcher.ready,
              "fulltext_papers": len(searcher.lexical) if searcher.lexical is not None else 0,
              "vectors": len(searcher.index) if searcher.index is not None else 0}
    return JSONResponse({"ok": True, "papers": store.papers.count(), "search": search, "worker": os.getpid()})


# The home page says "data as of" when its newest day is older than this: the list is then not today's.
STALE_AFTER_DAYS = 2


def home(request: Request) -> Response:
    store: Store = request.app.state.store
    latest = store.papers.latest_list_date() or date.today().isoformat()
    return _render_period(request, parse_date(latest), _wants_json(request, False), is_home=True)


def thumbnail(request: Request) -> Response:
    """A thumbnail from the local cache (enrich/thumbnails.py wrote it; only its names are served)."""
    from ..enrich.thumbnails import FILE_NAME, MEDIA_TYPES

    name = request.path_params["file"]
    path = Path(request.app.state.settings.thumbnail_dir) / name
    if not FILE_NAME.fullmatch(name) or not path.is_file():
        raise NotFound("No such thumbnail.")
    return FileResponse(path, media_type=MEDIA_TYPES[name.rsplit(".", 1)[1]],
                        headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"})


async def favicon(request: Request) -> Response:
    """Browsers and feed readers ask for /favicon.ico whatever the page says: send them the icon."""
    return RedirectResponse(str(request.app.url_path_for("static", path="favicon.svg")), status_code=301)


async def date_picker(request: Request) -> Response:
    """The date picker's GET form lands here: send the reader to that day's page. (No I/O, so
    it stays on the event loop.)"""
    value = request.query_params.get("date", "")
    period = parse_date(value)
    return RedirectResponse(str(request.app.url_path_for("period", kind="date", key=period.key)), status_code=303)


def period_picker(request: Request) -> Response:
    """The week and month pickers' GET forms (``?week=2026-W31``, ``?month=2026-07``; a date
    works in either, for browsers whose picker is a text box), and the header's Weekly and
    Monthly links (no value: the newest week or month with papers)."""
    kind = "week" if request.url.path.endswith("/week") else "month"
    value = request.query_params.get(kind, "").strip()
    if not value:
        store: Store = request.app.state.store
        latest = store.papers.latest_list_date()
        period = period_containing(kind, date.fromisoformat(latest) if latest else date.today())
    elif len(value) == 10:
        period = period_containing(kind, parse_date(value).start)
    else:
        period = PARSERS[kind](value)
    return RedirectResponse(str(request.app.url_path_for("period", kind=kind, key=period.key)), status_code=303)


def period_page(request: Request) -> Response:
    kind = request.path_params["kind"]
    key, suffix = _split_json(request.path_params["key"])
    if kind not in PARSERS:
        # old-style arXiv ids have a slash: /papers/astro-ph/0601001
        request.path_params["paper_id"] = f"{kind}/{request.path_params['key']}"
        return paper_page(request)
    return _render_period(request, PARSERS[kind](key), _wants_json(request, suffix))


def _render_period(request: Request, period: Period, as_json: bool, is_home: bool = False) -> Response:
    store: Store = request.app.state.store
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, as_json)
    if (hit := renderer.cached(request, etag, as_json)) is not None:
        return hit
    start, end = period.start.isoformat(), period.end.isoformat()
    total = store.papers.count_in_range(start, end)
    pages = Pagination.of(request, request.app.state.settings.page_size, total)
    papers = store.papers.in_range(start, end, limit=pages.per_page, offset=pages.offset)
    thumbs = store.papers.thumbnails_of([p.id for p in papers])
    # Previous and next lead to the nearest period with papers, never into an empty stretch or
    # the future; an empty period offers the nearest ones either side.
    before, after = store.papers.neighbour_dates(start, end)
    prev = period_containing(period.kind, date.fromisoformat(before)) if before else None
    nxt = period_containing(period.kind, date.fromisoformat(after)) if after else None
    nearest = None
    if not papers and period.kind == "date":
        candidates = [d for d in (before, after) if d]
        if candidates:
            nearest = min(candidates, key=lambda d: abs((date.fromisoformat(d) - period.start).days))
    latest = store.papers.latest_list_date()
    stale = (is_home and latest is not None
             and (date.today() - date.fromisoformat(latest)).days > STALE_AFTER_DAYS)

    def data() -> dict[str, Any]:
        return {
            "period": {"kind": period.kind, "key": period.key, "start": start, "end": end, "label": period.label},
            "total": total, "pagination": pages.to_json(),
            "previous": prev.key if prev else None, "next": nxt.key if nxt else None,
            "previous_with_papers": before, "next_with_papers": after, "nearest_with_papers": nearest,
            "data_as_of": latest,
            "papers": [{**paper_json(p, counts), "thumbnail": f"/thumbnails/{thumbs[p.id]}" if p.id in thumbs else None}
                       for p in papers],
        }

    counts = counts_of(store, papers)
    week = period.start.isocalendar()
    context = {
        "period": period, "papers": papers, "thumbs": thumbs, "total": total, "pages": pages, "prev": prev, "next": nxt,
        "before": before, "after": after, "nearest": nearest, "is_home": is_home, "latest": latest, "stale": stale,
        "counts": counts,
        "week_key": f"{week.year}-W{week.week:02d}", "month_key": f"{period.start:%Y-%m}",
        "feeds": feeds.links({"date": "daily", "week": "weekly", "month": "monthly"}[period.kind]),
    }
    return renderer.respond(request, etag, "list.html", context, data, as_json)


def paper_page(request: Request) -> Response:
    paper_id, suffix = _split_json(request.path_params["paper_id"])
    as_json = _wants_json(request, suffix)
    store: Store = request.app.state.store
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, as_json)
    if (hit := renderer.cached(request, etag, as_json)) is not None:
        return hit
    paper = store.papers.get(paper_id) if is_valid_paper_id(paper_id) else None
    if paper is None or store.community.is_hidden(paper.id):
        raise NotFound(f"No paper with id {paper_id[:80]!r} is known here.")
    from .charts import score_bar, sparkline

    entry = bibtex(paper)
    history = ([(s.observed_at, s.stars) for s in store.signals.star_history(paper.code_repo)]
               if paper.code_repo else [])
    trend = store.trending.row("month", paper.id)
    hidden = store.community.hidden_paper_ids()
    similar = [h for h in request.app.state.searcher().similar(paper, 5) if h.paper.id not in hidden]
    counts = counts_of(store, [paper])
    threads, rendered = comments_of(store, paper.id)

    def data() -> dict[str, Any]:
        return {**paper_json(paper, counts), "bibtex": entry, "comments": [c.to_json() for c in threads],
                "star_history": [{"observed_at": at, "stars": n} for at, n in history],
                "trending": {"score": trend.score, "reason": trend.reason, "parts": trend.parts} if trend else None,
                "similar": [{"id": h.paper.id, "title": h.paper.title, "score": h.score} for h in similar]}

    if as_json:
        return renderer.respond(request, etag, "paper.html", {}, data, as_json)
    context = {"paper": paper, "bibtex": entry, "observations": store.signals.observations(paper.id),
               # One snapshot draws no line (a lone dot): the stars count is in the links already.
               "similar": similar, "spark": sparkline(history, width=200, height=40) if len(history) > 1 else "",
               "trend": trend,
               "bar": score_bar(trend.parts, trend.score, trend.score) if trend else "", "counts": counts,
               "threads": threads, "rendered": rendered,
               "already": request.query_params.get("already") == "1"}
    return renderer.respond(request, etag, "paper.html", context, data, as_json)



def author_page(request: Request) -> Response:
    """Papers that list an author of this name (case, accents and punctuation aside), newest first."""
    from ..ids import author_key

    name, suffix = _split_json(request.path_params["author"])
    as_json = _wants_json(request, suffix)
    name = " ".join(name.split())[:200]
    if not author_key(name):
        raise NotFound(f"No author named {name[:80]!r} is known here.")
    store: Store = request.app.state.store
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, as_json)
    if (hit := renderer.cached(request, etag, as_json)) is not None:
        return hit
    per_page = request.app.state.settings.page_size
    total, papers = store.papers.by_author(name, limit=per_page, offset=(requested_page(request) - 1) * per_page)
    pages = Pagination.of(request, per_page, total)
    if not total:
        raise NotFound(f"No papers by an author named {name[:80]!r} are known here.")
    key = author_key(name)
    shown = next((a.name for p in papers for a in p.authors if author_key(a.name) == key), name)

    counts = counts_of(store, papers)

    def data() -> dict[str, Any]:
        return {"author": shown, "total": total, "pagination": pages.to_json(),
                "papers": [paper_json(p, counts) for p in papers]}

    return renderer.respond(request, etag, "author.html",
                            {"author": shown, "papers": papers, "total": total, "pages": pages, "counts": counts},
                            data, as_json)


class _TrendingEntry(TypedDict):
    """One row of the trending page, as its template reads it."""
    paper: Paper
    row: TrendingRow
    spark: Markup
    bar: Markup


def trending_page(request: Request) -> Response:
    """A window's trending papers, a page at a time; inside a filter (a category, has code) the
    ranks are renumbered 1, 2, 3... and ``overall_rank`` keeps the place in the whole window."""
    from ..rank.trending import WINDOWS
    from ..sources.taxonomy import category_label
    from .charts import score_bar, sparkline

    as_json = _wants_json(request, request.url.path.endswith(".json"))
    window = request.query_params.get("window", "week")
    if window not in WINDOWS:
        raise BadRequest(f"window {window[:20]!r} is not one of: {', '.join(WINDOWS)}")
    category = request.query_params.get("category", "").strip()[:40] or None
    has_code = request.query_params.get("has_code", "") in ("1", "true", "on", "yes")
    store: Store = request.app.state.store
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, as_json)
    if (hit := renderer.cached(request, etag, as_json)) is not None:
        return hit
    total = store.trending.count(window, category, has_code)
    pagination = Pagination.of(request, request.app.state.settings.page_size, total)
    if total and pagination.page > pagination.pages:
        raise NotFound(f"page {pagination.page} is past the last page ({pagination.pages}) of this list")
    ranked = store.trending.page(window, category, has_code, limit=pagination.per_page, offset=pagination.offset)
    top = max((row.score for _, row in ranked), default=0.0)
    entries: list[_TrendingEntry] = []
    # One query for every sparkline on the page, not one per paper.
    histories = store.signals.star_histories_of([p.code_repo for p, _ in ranked if p.code_repo])
    for paper, row in ranked:
        history = ([(s.observed_at, s.stars) for s in histories.get(paper.code_repo.lower(), [])]
                   if paper.code_repo else [])
        entries.append({"paper": paper, "row": row, "spark": sparkline(history),
                        "bar": score_bar(row.parts, row.score, top)})
    anchor = ranked[0][1].anchor if ranked else None
    # Only categories that have papers in this window; the chosen one stays selectable.
    known = [(code, category_label(code), n) for code, n in store.trending.categories(window)]
    categories = list(known)
    if category and category not in {code for code, _, _ in known}:
        categories.insert(0, (category, category_label(category), 0))
    counts = counts_of(store, [p for p, _ in ranked])

    def data() -> dict[str, Any]:
        return {
            "window": window, "category": category, "has_code": has_code, "anchor": anchor,
            "total": total, "pagination": pagination.to_json(),
            "categories": [{"code": code, "name": label, "papers": n} for code, label, n in known],
            "papers": [{**paper_json(e["paper"], counts), "rank": e["row"].rank, "overall_rank": e["row"].overall_rank,
                        "score": e["row"].score, "reason": e["row"].reason, "score_parts": e["row"].parts}
                       for e in entries],
        }

    context = {"entries": entries, "window": window, "windows": list(WINDOWS), "category": category or "",
               "category_label": category_label(category) if category else "", "has_code": has_code,
               "anchor": anchor, "categories": categories, "pagination": pagination, "total": total,
               "feeds": feeds.links("trending", window=window, category=category or "")
               + (feeds.links("category", category=category) if category else []), "counts": counts}
    return renderer.respond(request, etag, "trending.html", context, data, as_json)


def _filters_from(request: Request) -> tuple[SearchFilters, str, str]:
    from ..search.hybrid import MODES, SORTS

    params = request.query_params
    date_from, date_to = params.get("from", "").strip(), params.get("to", "").strip()
    for value in (date_from, date_to):
        if value:
            parse_date(value)
    sort = params.get("sort", "relevance")
    mode = params.get("mode", "hybrid")
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}")
    if mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}")
    try:
        min_upvotes = max(0, int(params.get("min_upvotes") or 0))
    except ValueError:
        raise BadRequest("min_upvotes must be a whole number") from None
    filters = SearchFilters(date_from or None, date_to or None, params.get("category", "").strip()[:40] or None,
                            params.get("has_code", "") in ("1", "true", "on", "yes"), min_upvotes)
    return filters, sort, mode


async def search_page(request: Request) -> Response:
    """A search costs ~10 ms of CPU, a cached page well under one: searches run in their own few
    threads (``app.state.search_pool``), so a queue of searches never takes the threads other
    pages run in, and only that many compete with them for the interpreter."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.search_pool, _search_page, request)


SEARCH_PAGE_SIZE = 30


def _search_page(request: Request) -> Response:
    from ..search.query import highlighter
    from ..search.snippets import best_passage
    from .highlight import render_marked

    as_json = _wants_json(request, request.url.path.endswith(".json"))
    q = request.query_params.get("q", "")
    filters, sort, mode = _filters_from(request)
    page = requested_page(request)
    searcher = request.app.state.searcher()
    results = searcher.search(q, filters, sort, mode, limit=SEARCH_PAGE_SIZE, offset=(page - 1) * SEARCH_PAGE_SIZE)
    store: Store = request.app.state.store  # the searcher leaves out hidden papers before counting
    counts = counts_of(store, [h.paper for h in results.hits])
    pagination = Pagination.of(request, SEARCH_PAGE_SIZE, results.listed)
    passages = [best_passage(h.paper.abstract, results.query) for h in results.hits]
    found = {"total": results.total, "total_exact": results.total_exact, "basis": results.basis,
             "found_by": results.found_by}
    if as_json:
        return JSONResponse({"query": results.query.text, "notice": results.query.notice, "mode": mode, "sort": sort,
                             "filters": vars(filters), **found, "pagination": pagination.to_json(),
                             "papers": [{**paper_json(h.paper, counts), "score": h.score, "fulltext_score": h.fulltext,
                                         "vector_score": h.vector, "snippet": passage}
                                        for h, passage in zip(results.hits, passages, strict=True)]})
    mark = highlighter(results.query)
    hits = [{"paper": h.paper, "score": h.score, "title": render_marked(h.paper.title, mark),
             "abstract": render_marked(passage, mark)} for h, passage in zip(results.hits, passages, strict=True)]
    renderer: Renderer = request.app.state.renderer
    return renderer.page(request, "search.html", {"q": results.query.text if q else "", "hits": hits,
                                                  "notice": results.query.notice, "filters": filters,
                                                  "sort": sort, "mode": mode, "searched": bool(q.strip()),
                                                  "pagination": pagination, "results": results, **found,
                                                  "feeds": feeds.links("search", q=q.strip()) if q.strip() else [],
                                                  "counts": counts})


def jobs_page(request: Request) -> Response:
    """The operator's view of job runs and import runs (admins only)."""
    require(request, "admin")
    store: Store = request.app.state.store
    runs = store.runs.job_runs(limit=100)
    ingests = store.runs.ingest_runs(limit=50)
    if _wants_json(request, request.url.path.endswith(".json")):
        return JSONResponse({"job_runs": [vars(r) for r in runs], "ingest_runs": [vars(r) for r in ingests]},
                            headers={"cache-control": "no-store"})
    renderer: Renderer = request.app.state.renderer
    return renderer.page(request, "jobs.html", {"runs": runs, "ingests": ingests},
                         headers={"cache-control": "no-store"})
