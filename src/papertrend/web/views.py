"""Page handlers. Each serves HTML and JSON; errors are raised, the app's handler renders them."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import BadRequest, NotFound
from ..ids import is_valid_paper_id
from ..periods import PARSERS, Period, parse_date
from ..store import Store
from .render import Renderer, bibtex


def _split_json(key: str) -> tuple[str, bool]:
    return (key[:-5], True) if key.endswith(".json") else (key, False)


def _wants_json(request: Request, suffix: bool) -> bool:
    from .app import wants_json

    return suffix or wants_json(request)


async def healthz(request: Request) -> Response:
    store: Store = request.app.state.store
    return JSONResponse({"ok": True, "papers": store.count_papers()})


async def home(request: Request) -> Response:
    store: Store = request.app.state.store
    latest = store.latest_list_date() or date.today().isoformat()
    return _render_period(request, parse_date(latest), _wants_json(request, False), is_home=True)


async def date_picker(request: Request) -> Response:
    """The date picker's GET form lands here: send the reader to that day's page."""
    value = request.query_params.get("date", "")
    period = parse_date(value)
    return RedirectResponse(str(request.app.url_path_for("period", kind="date", key=period.key)), status_code=303)


async def period_page(request: Request) -> Response:
    kind = request.path_params["kind"]
    key, suffix = _split_json(request.path_params["key"])
    if kind not in PARSERS:
        # old-style arXiv ids have a slash: /papers/astro-ph/0601001
        request.path_params["paper_id"] = f"{kind}/{request.path_params['key']}"
        return await paper_page(request)
    return _render_period(request, PARSERS[kind](key), _wants_json(request, suffix))


def _render_period(request: Request, period: Period, as_json: bool, is_home: bool = False) -> Response:
    from .app import etag_for

    store: Store = request.app.state.store
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, as_json)
    if (hit := renderer.cached(request, etag, as_json)) is not None:
        return hit
    start, end = period.start.isoformat(), period.end.isoformat()
    limit = request.app.state.settings.page_size if period.kind == "date" else 200
    papers = store.list_papers(start, end, limit=limit)
    total = len(papers) if len(papers) < limit else store.count_in_range(start, end)
    before, after = store.neighbour_dates(start) if period.kind == "date" else (None, None)
    nearest = None
    if not papers and period.kind == "date":
        candidates = [d for d in (before, after) if d]
        nearest = min(candidates, key=lambda d: abs((date.fromisoformat(d) - period.start).days)) if candidates else None
    prev, nxt = period.previous(), period.next()
    data = {
        "period": {"kind": period.kind, "key": period.key, "start": start, "end": end, "label": period.label},
        "total": total,
        "previous": prev.key, "next": nxt.key,
        "previous_with_papers": before, "next_with_papers": after, "nearest_with_papers": nearest,
        "papers": [p.to_json() for p in papers],
    }
    week = period.start.isocalendar()
    context = {
        "period": period, "papers": papers, "total": total, "prev": prev, "next": nxt, "before": before,
        "after": after, "nearest": nearest, "is_home": is_home,
        "week_key": f"{week.year}-W{week.week:02d}", "month_key": f"{period.start:%Y-%m}",
    }
    return renderer.respond(request, etag, "list.html", context, data, as_json)


async def paper_page(request: Request) -> Response:
    from .app import etag_for

    paper_id, suffix = _split_json(request.path_params["paper_id"])
    as_json = _wants_json(request, suffix)
    store: Store = request.app.state.store
    renderer: Renderer = request.app.state.renderer
    etag = etag_for(request, as_json)
    if (hit := renderer.cached(request, etag, as_json)) is not None:
        return hit
    paper = store.get_paper(paper_id) if is_valid_paper_id(paper_id) else None
    if paper is None:
        raise NotFound(f"No paper with id {paper_id[:80]!r} is known here.")
    data = paper.to_json()
    data["bibtex"] = bibtex(paper)
    from .charts import score_bar, sparkline

    history = [(s.observed_at, s.stars) for s in store.star_history(paper.code_repo)] if paper.code_repo else []
    trend = store.trending_row("month", paper.id)
    data["star_history"] = [{"observed_at": at, "stars": n} for at, n in history]
    data["trending"] = {"score": trend.score, "reason": trend.reason, "parts": trend.parts} if trend else None
    context = {"paper": paper, "bibtex": data["bibtex"], "observations": store.observations(paper.id),
               "spark": sparkline(history, width=200, height=40), "trend": trend,
               "bar": score_bar(trend.parts, trend.score, trend.score) if trend else ""}
    return renderer.respond(request, etag, "paper.html", context, data, as_json)



async def trending_page(request: Request) -> Response:
    from ..rank.trending import WINDOWS
    from .app import etag_for
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
    ranked = store.trending(window, category, has_code, limit=request.app.state.settings.page_size)
    top = max((row.score for _, row in ranked), default=0.0)
    entries = []
    for paper, row in ranked:
        history = [(s.observed_at, s.stars) for s in store.star_history(paper.code_repo)] if paper.code_repo else []
        entries.append({"paper": paper, "row": row, "spark": sparkline(history),
                        "bar": score_bar(row.parts, row.score, top)})
    anchor = ranked[0][1].anchor if ranked else None
    data = {
        "window": window, "category": category, "has_code": has_code, "anchor": anchor,
        "papers": [{**e["paper"].to_json(), "rank": e["row"].rank, "score": e["row"].score, "reason": e["row"].reason,
                    "score_parts": e["row"].parts} for e in entries],
    }
    context = {"entries": entries, "window": window, "windows": list(WINDOWS), "category": category or "",
               "has_code": has_code, "anchor": anchor}
    return renderer.respond(request, etag, "trending.html", context, data, as_json)
