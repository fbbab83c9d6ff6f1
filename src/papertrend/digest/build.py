"""Building a period's digests into the outbox, and the worker's digest run."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from ..config import Settings
from ..models import Paper
from ..periods import Period, parse_date, parse_week
from ..rank.recompute import rank_window
from ..store import Store, utcnow
from . import compose
from .mailer import deliver


def build_digests(store: Store, settings: Settings, frequency: str, period_key: str) -> dict[str, int]:
    """Compose the period's digest for every confirmed subscriber into the outbox. Idempotent:
    one row per (subscriber, period); a paper already sent to a subscriber is never in another
    of their digests; a subscriber with nothing new gets nothing (no empty digest)."""
    period = parse_week(period_key) if frequency == "weekly" else parse_date(period_key)
    ranked = [compose.Candidate.of(p) for p in ranked_papers(store, period)]
    subscribers = store.digests.confirmed(frequency)
    already = store.digests.sent_paper_ids([s.id for s in subscribers])
    rows, papers_of = [], {}
    counts = {"subscribers": len(subscribers), "composed": 0, "empty": 0, "already_built": 0}
    # Subscribers with the same papers share one rendering (a digest of 10,000 is mostly a few).
    templates: dict[tuple[str, ...], compose.DigestTemplate] = {}
    for sub in subscribers:
        interests = compose.Interests.of(sub)
        chosen = [c.paper for c in ranked if c.paper.id not in already[sub.id] and compose.matches(c, interests)]
        chosen = chosen[: settings.digest_max_papers]
        if not chosen:
            counts["empty"] += 1
            continue
        key = tuple(p.id for p in chosen)
        if key not in templates:
            templates[key] = compose.DigestTemplate(settings, period, chosen)
        template = templates[key]
        # The shared rendering splices in ASCII headers; other addresses get a message of their own.
        if template.usable and sub.email.isascii():
            c = template.render(sub)
        else:
            c = compose.digest(settings, sub, period, chosen)
        rows.append({"subscriber_id": sub.id, "kind": "digest", "period": period.key, "message_id": c.message_id,
                     "to_addr": sub.email, "raw": c.raw, "subject": c.subject})
        papers_of[sub.id] = [p.id for p in chosen]
    for i in range(0, len(rows), 500):
        counts["composed"] += store.digests.enqueue(rows[i:i + 500], papers_of, utcnow())
    counts["already_built"] = len(rows) - counts["composed"]
    return counts


def ranked_papers(store: Store, period: Period, now: datetime | None = None) -> list[Paper]:
    """The period's papers ranked by the trending score exactly as ``/trending`` ranks a window
    of the period's length ending on its last day (star velocity included): one scoring path,
    so the week's #1 on the trending page leads the weekly digest."""
    end_of_period = datetime.combine(period.end + timedelta(days=1), time(), UTC)
    as_of = min(now or datetime.now(UTC), end_of_period)
    rows = rank_window(store, period.end, (period.end - period.start).days + 1, as_of)
    papers = store.papers.get_many([r["paper_id"] for r in rows])
    return [papers[r["paper_id"]] for r in rows if r["paper_id"] in papers]


def digest_job(store: Store, settings: Settings, now: datetime) -> dict[str, int]:
    """The worker's digest run: yesterday's daily digests, and on Mondays last week's weekly ones."""
    store.digests.expire_pending(now.isoformat(timespec="seconds"))
    counts = {}
    for frequency in ("daily", "weekly"):
        if frequency == "weekly" and now.weekday() != 0:
            continue
        built = build_digests(store, settings, frequency, compose.previous_period(frequency, now.date()).key)
        counts[f"{frequency}_composed"] = built["composed"]
    counts.update(deliver(store, settings))
    return counts
