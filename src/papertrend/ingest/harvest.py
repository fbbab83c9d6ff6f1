"""Fetching papers from remote sources, page by page, through the one importer path.

Each harvest keeps a cursor in the store after every page it has stored, so an interrupted
harvest resumes where it stopped and does not fetch again what it already has. Parsing stays
in the pure parsers (arxiv_atom, oai_pmh, hf_daily); errors name the request that failed.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..config import Settings
from ..errors import RemoteError, SourceError
from ..ids import split_arxiv_id
from ..models import ImportSummary
from ..sources import arxiv_atom, hf_daily, oai_pmh
from ..store import Store
from .importer import Progress, import_items
from .polite import PoliteClient

ARXIV_PAGE_MAX = 2000       # arXiv's largest page
ARXIV_RESULT_CAP = 30_000   # arXiv refuses to page past this many results of one query
EMPTY_PAGE_RETRIES = 3


def arxiv_query(categories: list[str], start: date, end: date) -> str:
    cats = " OR ".join(f"cat:{c}" for c in categories)
    return f"({cats}) AND submittedDate:[{start:%Y%m%d}0000 TO {end:%Y%m%d}2359]"


def _windows(since: date, until: date, days: int) -> list[tuple[date, date]]:
    out, day = [], since
    while day <= until:
        end = min(until, day + timedelta(days=days - 1))
        out.append((day, end))
        day = end + timedelta(days=1)
    return out


def harvest_arxiv(store: Store, settings: Settings, client: PoliteClient, categories: list[str], since: date,
                  until: date, run_id: int | None = None, page_size: int = 1000, window_days: int = 7,
                  progress: Progress | None = None) -> ImportSummary:
    """The arXiv query API, sorted by submission date, in date windows small enough that no
    query passes arXiv's 30,000-result limit (a window that would is split in two)."""
    page_size = min(page_size, ARXIV_PAGE_MAX)
    name = f"arxiv:{','.join(sorted(categories))}:{since}:{until}"
    cursor = store.coordination.get_cursor(name) or {"done_until": None, "start": 0}
    summary = ImportSummary()
    pending = _windows(since, until, window_days)
    while pending:
        lo, hi = pending.pop(0)
        if cursor["done_until"] and hi.isoformat() <= cursor["done_until"]:
            continue
        start = cursor["start"] if cursor.get("window") == [lo.isoformat(), hi.isoformat()] else 0
        empty_tries, split = 0, False
        while True:
            params = {"search_query": arxiv_query(categories, lo, hi), "start": start, "max_results": page_size,
                      "sortBy": "submittedDate", "sortOrder": "ascending"}
            response = client.get(settings.arxiv_api_url, params)
            where = str(response.request.url)
            page = arxiv_atom.parse_page(response.content, where)
            total = page.total_results or 0
            if total > ARXIV_RESULT_CAP:
                if hi > lo:
                    mid = lo + (hi - lo) // 2
                    pending[:0] = [(lo, mid), (mid + timedelta(days=1), hi)]
                    split = True
                    break
                raise RemoteError(f"{total:,} results in one day passes arXiv's {ARXIV_RESULT_CAP:,} limit", where)
            if not page.items and start < total:
                # arXiv sometimes answers an empty page in the middle of a result set: ask again.
                empty_tries += 1
                if empty_tries > EMPTY_PAGE_RETRIES:
                    raise RemoteError(f"empty page at {start} of {total} results, {EMPTY_PAGE_RETRIES} times", where)
                continue
            empty_tries = 0
            summary.add(import_items(store, settings, page.items, run_id, progress))
            start += len(page.items)
            cursor = {"done_until": cursor["done_until"], "window": [lo.isoformat(), hi.isoformat()], "start": start}
            store.coordination.set_cursor(name, cursor)
            if start >= total or not page.items:
                break
        if not split:
            cursor = {"done_until": hi.isoformat(), "start": 0}
            store.coordination.set_cursor(name, cursor)
    store.coordination.set_cursor(name, None)
    return summary


def fetch_arxiv_ids(store: Store, settings: Settings, client: PoliteClient, ids: list[str],
                    run_id: int | None = None) -> ImportSummary:
    """Papers by id; ids arXiv did not return are reported as rejected, naming the request."""
    response = client.get(settings.arxiv_api_url, {"id_list": ",".join(ids), "max_results": len(ids)})
    where = str(response.request.url)
    page = arxiv_atom.parse_page(response.content, where)
    summary = import_items(store, settings, page.items, run_id)
    found = {i.id for i in page.items if not isinstance(i, SourceError)}
    # Compare without the version: "solv-int/9901001v2" is "solv-int/9901001", not "sol".
    for missing in [i for i in ids if (split_arxiv_id(i) or (i, None))[0] not in found]:
        summary.rejected += 1
        summary.errors.append(f"{where}: arXiv returned no entry for {missing}")
    return summary


def harvest_oai(store: Store, settings: Settings, client: PoliteClient, set_spec: str, since: date,
                until: date | None = None, run_id: int | None = None,
                progress: Progress | None = None) -> ImportSummary:
    """OAI-PMH ListRecords (metadataPrefix=arXiv), following resumption tokens."""
    name = f"oai:{set_spec}:{since}:{until or ''}"
    cursor = store.coordination.get_cursor(name)
    summary = ImportSummary()
    restarted = False
    while True:
        if cursor and cursor.get("token"):
            params = {"verb": "ListRecords", "resumptionToken": cursor["token"]}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": set_spec, "from": since.isoformat()}
            if until:
                params["until"] = until.isoformat()
        response = client.get(settings.oai_url, params)
        where = str(response.request.url)
        try:
            page = oai_pmh.parse_page(response.content, where)
        except SourceError as exc:
            if "badResumptionToken" in str(exc) and not restarted:
                restarted, cursor = True, None  # tokens expire: start the window again, once
                continue
            raise
        summary.add(import_items(store, settings, page.items, run_id, progress))
        if not page.resumption_token:
            break
        cursor = {"token": page.resumption_token}
        store.coordination.set_cursor(name, cursor)
    store.coordination.set_cursor(name, None)
    return summary


HF_PAGE = 100   # papers a request asks for (Hugging Face's and papertrend's largest page)


def fetch_hf_daily(store: Store, settings: Settings, client: PoliteClient, days: list[date],
                   run_id: int | None = None, progress: Progress | None = None) -> ImportSummary:
    """Daily papers, ``{hf_endpoint}/api/daily_papers?date=`` for each day, page by page
    (``p``, ``limit``): Hugging Face itself, or another papertrend through the same API.

    The cursor (per endpoint and days) keeps the last day fully stored, so an interrupted
    harvest starts again at the day it stopped in."""
    summary = ImportSummary()
    endpoint = settings.hf_endpoint.rstrip("/")
    url = endpoint + "/api/daily_papers"
    name = f"hf:{endpoint}:{days[0] if days else ''}:{days[-1] if days else ''}"
    cursor = store.coordination.get_cursor(name) or {"done_until": None}
    for day in days:
        if cursor["done_until"] and day.isoformat() <= cursor["done_until"]:
            continue
        seen: set[str] = set()
        for page in range(MAX_HF_PAGES):
            response = client.get(url, {"date": day.isoformat(), "limit": HF_PAGE, "p": page})
            where = str(response.request.url)
            if "html" in response.headers.get("content-type", ""):
                raise SourceError("answered an HTML page, not JSON", where)
            try:
                text = response.content.decode("utf-8")
            except UnicodeDecodeError:
                raise SourceError("answer is not UTF-8", where) from None
            items = list(hf_daily.parse(text, where))
            batch = [i for i in items if isinstance(i, SourceError) or i.id not in seen]
            # A page with nothing new is past the end: a server that ignores ``p`` answers the
            # whole day each time (as the recorded Hugging Face responses do).
            if page and not any(not isinstance(i, SourceError) for i in batch):
                break
            summary.add(import_items(store, settings, batch, run_id, progress))
            seen.update(i.id for i in items if not isinstance(i, SourceError) and i.id)
            if len(items) < HF_PAGE:  # a short page is the last
                break
        cursor = {"done_until": day.isoformat()}
        store.coordination.set_cursor(name, cursor)
    store.coordination.set_cursor(name, None)
    return summary


MAX_HF_PAGES = 100   # 10,000 papers in a day: far past any real day; a bound on a server that pages forever
