"""The GitHub star refresh: a snapshot of every linked repository's stars, resumable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..store import Store
from .github import GitHubClient


def refresh_stars(store: Store, client: GitHubClient, min_age_hours: float = 1.0, limit: int | None = None,
                  progress: Callable[[int], None] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Ask GitHub for the stars of every linked repository not checked in ``min_age_hours``.

    Each answer is stored as it arrives, so an interrupted run (Ctrl-C, a rate limit) loses
    nothing and the next run starts with the repositories not yet checked.
    """
    now = now or datetime.now(UTC)
    before = (now - timedelta(hours=min_age_hours)).isoformat()
    counts = {"ok": 0, "not_modified": 0, "gone": 0, "error": 0}
    for state in store.signals.repos_to_check(before, limit):
        answer = client.repo(state.repo, state.etag)
        stars = answer.stars if answer.status == "ok" else state.stars if answer.status == "not_modified" else None
        status = {"ok": "ok", "not_modified": "ok"}.get(answer.status, answer.status)
        store.signals.record_repo(state.repo, status, stars, answer.etag, answer.error)
        counts[answer.status] += 1
        if progress:
            progress(1)
    return counts
