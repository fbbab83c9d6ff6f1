"""The trending recompute: score every candidate paper for each window and store the ranking.

:func:`rank_window` is the one scoring path: ``/trending`` stores what it returns for each
window, and the digest ranks a period's papers with it (anchored at the period's end), so a
digest and the trending page never disagree about what stood out.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from ..store import Store, utcnow
from .trending import WINDOWS, Signals, age_days, reason, score_arrays, star_gain, window_tau
from .votes import Damping, LocalVotes, damped_votes

History = dict[str, list[tuple[str, int]]]
PARTS = ("score", "velocity_part", "stars_part", "upvotes_part", "comments_part", "decay", "local_part")


def _column(signals: list[Signals], name: str) -> np.ndarray:
    """One signal of every candidate as floats, NaN where it is unknown."""
    return np.array([np.nan if getattr(s, name) is None else float(getattr(s, name)) for s in signals])


def rank_window(store: Store, anchor: date, days: int, now: datetime, histories: History | None = None,
                tau_days: float | None = None) -> list[dict[str, Any]]:
    """The ranking of the ``days`` ending on ``anchor``: papers listed then, and papers whose
    repository gained stars then, best first, each a row with its rank, score and parts
    (which add up to the score), decayed with the window's own ``window_tau`` (``tau_days``
    overrides it: the benchmark's baseline). Upvotes and comments cast here in the ``days``
    before ``now`` count next to the imported ones, votes damped by :func:`damping`."""
    if histories is None:
        histories = store.signals.star_histories(now.isoformat())
    local = damped_votes(store.community.votes_since(now.timestamp() - days * 86400, now.timestamp()), damping(store))
    talk = store.community.comments_since(now.timestamp() - days * 86400, now.timestamp())
    gains = {repo: star_gain(h, days) for repo, h in histories.items()}
    recent = (now - timedelta(days=days)).isoformat(timespec="seconds")
    active = [repo for repo, g in gains.items() if g and g[0] > 0 and histories[repo][-1][0] >= recent]
    since = (anchor - timedelta(days=days - 1)).isoformat()
    cands = store.trending.candidates(since, anchor.isoformat(), active)
    signals = []
    for c in cands:
        g = gains.get(c.repo) if c.repo else None
        here = local.get(c.id, LocalVotes(0.0, 0))
        signals.append(Signals(upvotes=c.upvotes, comments=c.num_comments + talk.get(c.id, 0), stars=c.github_stars,
                               stars_gained=g[0] if g else None, gain_days=g[1] if g else None,
                               age_days=age_days(c.list_date, anchor), local_votes=here.damped,
                               local_voters=here.voters))
    up, com, stars, gained, gain_days, ages, votes_here = (_column(signals, name) for name in (
        "upvotes", "comments", "stars", "stars_gained", "gain_days", "age_days", "local_votes"))
    parts = score_arrays(up, com, stars, gained, gain_days, ages, votes_here,
                         tau_days=tau_days or window_tau(days))
    order = sorted(range(len(cands)), key=lambda i: (-parts["score"][i], signals[i].age_days, cands[i].id))
    rows = []
    for rank, i in enumerate(order, start=1):
        s = signals[i]
        rows.append({"paper_id": cands[i].id, "rank": rank, **{k: float(parts[k][i]) for k in PARTS},
                     "local_votes": s.local_votes, "stars_gained": s.stars_gained, "gain_days": s.gain_days,
                     "age_days": s.age_days,
                     "anchor": anchor.isoformat(), "reason": reason(s)})
    return rows


def trending_anchor(store: Store, now: datetime) -> date:
    """Today, or the latest day with papers when the data is older (a demo database or an
    instance that stopped ingesting still shows its latest trending)."""
    latest = store.papers.latest_list_date()
    return min(now.date(), date.fromisoformat(latest)) if latest else now.date()


def recompute_trending(store: Store, now: datetime | None = None) -> dict[str, int]:
    """Score every candidate paper for each window and store the ranking. Safe to re-run."""
    now = now or datetime.now(UTC)
    anchor = trending_anchor(store, now)
    histories = store.signals.star_histories(now.isoformat())
    computed_at = utcnow()
    sizes = {}
    for window, days in WINDOWS.items():
        rows = [{"window": window, "computed_at": computed_at, **row}
                for row in rank_window(store, anchor, days, now, histories)]
        store.trending.save(window, rows)
        sizes[window] = len(rows)
    return sizes


def damping(store: Store) -> Damping:
    """The damping rule of local upvotes, from the store's settings."""
    return Damping(store.settings.vote_fresh_account_hours, store.settings.vote_fresh_weight)
