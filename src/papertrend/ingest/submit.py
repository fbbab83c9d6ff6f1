"""A reader submits a paper by arXiv id or URL, as on Hugging Face's daily papers.

The metadata comes from arXiv through the polite client and is stored by the one importer path
(``import_items``), in a recorded ingest run; the record says who submitted it and lists it on
the day it was submitted (``daily_date``, ``submitter``: what a daily list says about a paper).
The rules are settings: at most ``submission_max_age_days`` old (by arXiv's first version), at
most ``submission_daily_cap`` a day per account. A paper that is already stored is never
fetched again: the reader is sent to it. Everything is checked before anything is stored, and
arXiv failing stores nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..config import Settings
from ..errors import BadRequest, RemoteError, SourceError, TooManyRequests
from ..ids import split_arxiv_id
from ..models import PaperRecord, User
from ..sources import arxiv_atom
from ..store import Store
from .importer import import_items
from .polite import PoliteClient
from .remote import recorded

# Longer than a submission can take (arXiv's wait and timeout below, then the import), so the lease
# of a process that died is the only one that ever runs out.
SUBMIT_LEASE = 120.0


@dataclass(frozen=True)
class Submitted:
    paper_id: str
    new: bool          # False: the paper was already here; the reader is taken to it


def parse_submission(text: str) -> str:
    """The arXiv id (without version) in what a reader typed: ``2607.12345``, an abs or pdf URL."""
    value = (text or "").strip()[:300]
    found = split_arxiv_id(value.split("?")[0].split("#")[0].rstrip("/"))
    if not value or found is None:
        raise BadRequest(f"{value[:80]!r} is not an arXiv id or link (like 2607.12345 or "
                         "https://arxiv.org/abs/2607.12345)")
    return found[0]


def submit_paper(store: Store, settings: Settings, user: User, text: str, now: float | None = None,
                 client: PoliteClient | None = None) -> Submitted:
    """Store the paper ``text`` names, submitted by ``user``; or find it when it is here."""
    paper_id = parse_submission(text)
    now = time.time() if now is None else now
    if store.papers.get(paper_id) is not None:
        return Submitted(paper_id, new=False)
    # One submission per account at a time (a lease the database grants to one process), so the
    # cap's count and the submission it allows cannot interleave with another of its requests.
    lease, holder = f"submit:{user.id}", secrets.token_hex(8)
    if not store.coordination.take_job_lock(lease, holder, now, SUBMIT_LEASE):
        raise TooManyRequests("Your previous submission is still being fetched from arXiv; try again in a minute.")
    try:
        return _submit(store, settings, user, paper_id, now, client)
    finally:
        store.coordination.release_job_lock(lease, holder)


def _submit(store: Store, settings: Settings, user: User, paper_id: str, now: float,
            client: PoliteClient | None) -> Submitted:
    if store.community.submitted_since(user.id, now - 86400) >= settings.submission_daily_cap:
        raise TooManyRequests(f"You have submitted {settings.submission_daily_cap} papers in the last 24 hours, "
                              "the most one account may. Try again tomorrow.")
    record = _fetch(store, settings, paper_id, client)
    today = datetime.fromtimestamp(now, UTC).date()
    first = _first_version_date(record)
    if first is None or first < today - timedelta(days=settings.submission_max_age_days):
        raise BadRequest(f"{paper_id} was first published on {first or 'an unknown day'}: papers may be submitted "
                         f"up to {settings.submission_max_age_days} days after that.")
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    record = dataclasses.replace(record, daily_date=today.isoformat(), submitter=user.name, observed_at=stamp)
    summary = recorded(store, "submit", f"{paper_id} by {user.name}",
                       lambda run: import_items(store, settings, [record], run))
    if summary.rejected:
        raise BadRequest(f"arXiv's record of {paper_id} could not be stored: {'; '.join(summary.errors)[:300]}")
    store.community.record_submission(paper_id, user.id, now)
    return Submitted(paper_id, new=True)


def _fetch(store: Store, settings: Settings, paper_id: str, client: PoliteClient | None) -> PaperRecord:
    """arXiv's record of the paper; RemoteError (a retry message) when arXiv cannot be reached."""
    # A reader waits for the answer: a short wait and timeout, not the harvests' five minutes.
    polite = client or PoliteClient(store, settings, "arxiv", settings.arxiv_min_interval, max_wait=20.0,
                                    timeout=15.0)
    try:
        response = polite.get(settings.arxiv_api_url, {"id_list": paper_id, "max_results": 1})
        page = arxiv_atom.parse_page(response.content, str(response.request.url))
    except RemoteError as exc:
        raise RemoteError(f"arXiv could not be reached ({exc.reason}). Nothing was stored; try again in a few "
                          "minutes.") from exc
    except SourceError as exc:
        raise RemoteError(f"arXiv's answer could not be read ({exc.reason}). Nothing was stored; try again in a "
                          "few minutes.") from exc
    finally:
        if client is None:
            polite.close()
    for item in page.items:
        if isinstance(item, PaperRecord) and item.id == paper_id:
            return item
    raise BadRequest(f"arXiv has no paper {paper_id}.")


def _first_version_date(record: PaperRecord) -> date | None:
    try:
        return date.fromisoformat((record.published or "")[:10])
    except ValueError:
        return None
