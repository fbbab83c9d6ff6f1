"""Re-runnable job functions that the CLI and the worker both call."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .config import Settings
from .importer import Progress, import_paths
from .models import ImportSummary
from .rank.trending import WINDOWS, Signals, age_days, reason, score_arrays, star_gain
from .store import Store, utcnow

if TYPE_CHECKING:
    from .enrich.embeddings import Embedder
    from .enrich.github import GitHubClient
    from .sources.http import PoliteClient


def demo_corpus_dir() -> Path:
    """The bundled demo corpus (real Hugging Face and arXiv data; see its SOURCES.md)."""
    return Path(str(resources.files("papertrend") / "demo"))


def open_store(settings: Settings) -> Store:
    """A store whose schema is ready: created on an empty database, refused when outdated."""
    store = Store(settings)
    store.ensure_schema()
    return store


def load_demo(store: Store, settings: Settings, progress: Progress | None = None) -> ImportSummary | None:
    """Import the demo corpus unless a completed demo import is already recorded. Idempotent."""
    if any(run.kind == "import" and run.status in ("ok", "partial") and run.detail == "demo"
           for run in store.ingest_runs(limit=1000)):
        return None
    return import_paths(store, settings, [demo_corpus_dir()], progress=progress, label="demo")


def refresh_stars(store: Store, client: "GitHubClient", min_age_hours: float = 1.0, limit: int | None = None,
                  progress: Progress | None = None, now: datetime | None = None) -> dict[str, int]:
    """Ask GitHub for the stars of every linked repository not checked in ``min_age_hours``.

    Each answer is stored as it arrives, so an interrupted run (Ctrl-C, a rate limit) loses
    nothing and the next run starts with the repositories not yet checked.
    """
    now = now or datetime.now(UTC)
    before = (now - timedelta(hours=min_age_hours)).isoformat()
    counts = {"ok": 0, "not_modified": 0, "gone": 0, "error": 0}
    for state in store.repos_to_check(before, limit):
        answer = client.repo(state.repo, state.etag)
        stars = answer.stars if answer.status == "ok" else state.stars if answer.status == "not_modified" else None
        status = {"ok": "ok", "not_modified": "ok"}.get(answer.status, answer.status)
        store.record_repo(state.repo, status, stars, answer.etag, answer.error)
        counts[answer.status] += 1
        if progress:
            progress(1)
    return counts


def recompute_trending(store: Store, now: datetime | None = None) -> dict[str, int]:
    """Score every candidate paper for each window and store the ranking. Safe to re-run.

    The anchor is today, or the latest day with papers when the data is older (a demo
    database or an instance that stopped ingesting still shows its latest trending).
    """
    now = now or datetime.now(UTC)
    latest = store.latest_list_date()
    anchor = min(now.date(), date.fromisoformat(latest)) if latest else now.date()
    until = now.isoformat()
    histories = store.star_histories(until)
    computed_at = utcnow()
    sizes = {}
    for window, days in WINDOWS.items():
        gains = {repo: star_gain(h, days) for repo, h in histories.items()}
        recent = (now - timedelta(days=days)).isoformat(timespec="seconds")
        active = [repo for repo, g in gains.items() if g and g[0] > 0 and histories[repo][-1][0] >= recent]
        since = (anchor - timedelta(days=days - 1)).isoformat()
        cands = store.trending_candidates(since, anchor.isoformat(), active)
        signals = []
        for c in cands:
            g = gains.get(c.repo) if c.repo else None
            signals.append(Signals(upvotes=c.upvotes, comments=c.num_comments, stars=c.github_stars,
                                   stars_gained=g[0] if g else None, gain_days=g[1] if g else None,
                                   age_days=age_days(c.list_date, anchor)))

        def col(name: str) -> np.ndarray:
            return np.array([np.nan if getattr(s, name) is None else float(getattr(s, name)) for s in signals])

        parts = score_arrays(col("upvotes"), col("comments"), col("stars"), col("stars_gained"), col("gain_days"),
                             col("age_days"))
        order = sorted(range(len(cands)), key=lambda i: (-parts["score"][i], signals[i].age_days, cands[i].id))
        rows = []
        for rank, i in enumerate(order, start=1):
            s = signals[i]
            rows.append({"window": window, "paper_id": cands[i].id, "rank": rank,
                         **{k: float(parts[k][i]) for k in ("score", "velocity_part", "stars_part", "upvotes_part",
                                                            "comments_part", "decay")},
                         "stars_gained": s.stars_gained, "gain_days": s.gain_days, "age_days": s.age_days,
                         "anchor": anchor.isoformat(), "computed_at": computed_at, "reason": reason(s)})
        store.save_trending(window, rows)
        sizes[window] = len(rows)
    return sizes


def _text_hash(title: str, abstract: str) -> str:
    import hashlib

    return hashlib.sha1(f"{title}\n{abstract}".encode()).hexdigest()[:16]


def embed_missing(store: Store, embedder: "Embedder", model: str, batch: int = 256,
                  progress: Progress | None = None, on_total: "Callable[[int], None] | None" = None) -> int:
    """Embed papers that have no vector for ``model`` or whose text changed. Re-runnable:
    each batch is stored as it is done, so an interrupted run keeps what it finished."""
    from .enrich.embeddings import paper_text

    todo = [(pid, title, abstract) for pid, title, abstract, stored in store.texts_to_embed(model)
            if stored != _text_hash(title, abstract)]
    if on_total:
        on_total(len(todo))
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        vectors = embedder.embed([paper_text(t, a) for _, t, a in chunk], progress=progress)
        store.save_vectors([{"paper_id": pid, "model": model, "text_hash": _text_hash(t, a),
                             "vector": vectors[i].astype("<f4").tobytes()} for i, (pid, t, a) in enumerate(chunk)])
    return len(todo)


def load_vectors_file(store: Store, path: Path, model: str) -> int:
    """Store precomputed vectors (an .npz with ids, text hashes and float16 vectors). Idempotent."""
    data = np.load(path, allow_pickle=False)
    # Only vectors of the text as stored now, for papers that lack them.
    wanted = {pid: _text_hash(title, abstract) for pid, title, abstract, stored in store.texts_to_embed(model)
              if stored != _text_hash(title, abstract)}
    rows = []
    for pid, text_hash, vec in zip(data["ids"], data["hashes"], data["vectors"]):
        pid = str(pid)
        if wanted.get(pid) == str(text_hash):
            vec = vec.astype(np.float32)
            vec /= max(float(np.linalg.norm(vec)), 1e-12)
            rows.append({"paper_id": pid, "model": model, "text_hash": str(text_hash), "vector": vec.astype("<f4").tobytes()})
    for i in range(0, len(rows), 2000):
        store.save_vectors(rows[i:i + 2000])
    return len(rows)


def _recorded(store: Store, kind: str, detail: str, work: "Callable[[int], ImportSummary]") -> ImportSummary:
    """Run an ingest with its run recorded; a failure is recorded before it propagates."""
    run_id = store.start_run(kind, detail)
    summary = ImportSummary(run_id=run_id)
    status = "failed"
    try:
        summary = work(run_id)
        summary.run_id = run_id
        status = "ok" if not summary.rejected else "partial"
        return summary
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then raised again unchanged
        summary.errors.append(str(exc))
        raise
    finally:
        store.finish_run(run_id, status, summary.new, summary.updated, summary.unchanged, summary.rejected,
                         summary.errors)


def _after_ingest(store: Store, settings: Settings, now: datetime | None) -> None:
    recompute_trending(store, now)
    if settings.embed_on_import:
        from .enrich.embeddings import MODEL_ID, Embedder

        embed_missing(store, Embedder(max_tokens=settings.embedding_max_tokens), MODEL_ID)


def _harvest(store: Store, settings: Settings, kind: str, detail: str, slot: str, interval: float,
             client: "PoliteClient | None", now: datetime | None,
             work: "Callable[[PoliteClient, int], ImportSummary]") -> dict[str, int]:
    """One recorded harvest through a polite client (ours unless one is given), then trending
    and embeddings for what arrived."""
    from .sources.http import PoliteClient

    own = client is None
    polite = client or PoliteClient(store, settings, slot, interval)
    try:
        summary = _recorded(store, kind, detail, lambda run: work(polite, run))
    finally:
        if own:
            polite.close()
    _after_ingest(store, settings, now)
    return {"new": summary.new, "updated": summary.updated, "unchanged": summary.unchanged,
            "rejected": summary.rejected, "requests": polite.requests}


def ingest_arxiv(store: Store, settings: Settings, now: datetime | None = None, since: date | None = None,
                 until: date | None = None, categories: list[str] | None = None,
                 progress: Progress | None = None, client: "PoliteClient | None" = None) -> dict[str, int]:
    """arXiv query API for the categories and dates (default: the last 3 days). Resumable."""
    from .sources.harvest import harvest_arxiv

    now = now or datetime.now(UTC)
    until = until or now.date()
    since = since or until - timedelta(days=3)
    cats = categories or [c.strip() for c in settings.arxiv_categories.split(",") if c.strip()]
    return _harvest(store, settings, "arxiv", f"{','.join(cats)} {since}..{until}", "arxiv",
                    settings.arxiv_min_interval, client, now,
                    lambda polite, run: harvest_arxiv(store, settings, polite, cats, since, until, run,
                                                      progress=progress))


def ingest_oai(store: Store, settings: Settings, set_spec: str, since: date, until: date | None = None,
               now: datetime | None = None, progress: Progress | None = None,
               client: "PoliteClient | None" = None) -> dict[str, int]:
    """OAI-PMH harvest of a set (shares arXiv's politeness slot). Resumable."""
    from .sources.harvest import harvest_oai

    return _harvest(store, settings, "oai", f"{set_spec} {since}..{until or ''}", "arxiv",
                    settings.arxiv_min_interval, client, now,
                    lambda polite, run: harvest_oai(store, settings, polite, set_spec, since, until, run, progress))


def ingest_hf(store: Store, settings: Settings, now: datetime | None = None, since: date | None = None,
              until: date | None = None, progress: Progress | None = None,
              client: "PoliteClient | None" = None) -> dict[str, int]:
    """Hugging Face daily papers for each day from ``since`` to ``until`` (default: 3 days)."""
    from .sources.harvest import fetch_hf_daily

    now = now or datetime.now(UTC)
    until = until or now.date()
    since = since or until - timedelta(days=2)
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    return _harvest(store, settings, "hf", f"{since}..{until}", "hf", settings.hf_min_interval, client, now,
                    lambda polite, run: fetch_hf_daily(store, settings, polite, days, run, progress))


def stars_job(store: Store, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    from .enrich.github import GitHubClient

    client = GitHubClient(settings)
    try:
        counts = refresh_stars(store, client, min_age_hours=12, now=now)
    finally:
        client.close()
    recompute_trending(store, now)
    return counts


def build_digests(store: Store, settings: Settings, frequency: str, period_key: str) -> dict[str, int]:
    """Compose the period's digest for every confirmed subscriber into the outbox. Idempotent:
    one row per (subscriber, period); a paper already sent to a subscriber is never in another
    of their digests; a subscriber with nothing new gets nothing (no empty digest)."""
    from .digest import compose
    from .periods import parse_date, parse_week

    period = parse_week(period_key) if frequency == "weekly" else parse_date(period_key)
    candidates = store.list_papers(period.start.isoformat(), period.end.isoformat())
    ranked = [compose.Candidate.of(p) for p in compose.rank_for_period(candidates, period)]
    subscribers = store.digests.confirmed(frequency)
    already = store.digests.sent_paper_ids([s.id for s in subscribers])
    rows, papers_of = [], {}
    counts = {"subscribers": len(subscribers), "composed": 0, "empty": 0, "already_built": 0}
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
        c = template.render(sub) if template.usable else compose.digest(settings, sub, period, chosen)
        rows.append({"subscriber_id": sub.id, "kind": "digest", "period": period.key, "message_id": c.message_id,
                     "to_addr": sub.email, "raw": c.raw, "subject": c.subject})
        papers_of[sub.id] = [p.id for p in chosen]
    for i in range(0, len(rows), 500):
        counts["composed"] += store.digests.enqueue(rows[i:i + 500], papers_of, utcnow())
    counts["already_built"] = len(rows) - counts["composed"]
    return counts


def send_digests(store: Store, settings: Settings) -> dict[str, int]:
    from .digest.mailer import deliver

    return deliver(store, settings)


def digest_job(store: Store, settings: Settings, now: datetime) -> dict[str, int]:
    """The worker's digest run: yesterday's daily digests, and on Mondays last week's weekly ones."""
    from .digest.compose import previous_period

    store.digests.expire_pending(now.isoformat(timespec="seconds"))
    counts = {}
    for frequency in ("daily", "weekly"):
        if frequency == "weekly" and now.weekday() != 0:
            continue
        built = build_digests(store, settings, frequency, previous_period(frequency, now.date()).key)
        counts[f"{frequency}_composed"] = built["composed"]
    counts.update(send_digests(store, settings))
    return counts
