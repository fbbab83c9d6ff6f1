"""Re-runnable job functions that the CLI and the worker both call."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import Settings
from .importer import Progress, import_paths
from .models import ImportSummary
from .rank.trending import WINDOWS, Signals, age_days, reason, score_arrays, star_gain
from .store import Store, utcnow

if TYPE_CHECKING:
    from .enrich.github import GitHubClient


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
