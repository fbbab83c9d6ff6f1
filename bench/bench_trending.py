"""Trending recompute time at 10k / 100k / 1M papers with star histories (5 snapshots each).

Measures the scoring step (star gains from histories + the vectorised score) and, as the
baseline in the same process, the same scores computed the straightforward way: one paper at a
time with plain Python floats and ``math.log1p`` (``score_one`` below, the formula of
src/papertrend/rank/trending.py, checked against ``score_arrays`` to 1e-9 on every paper and
against ``score`` on edge cases). The baseline used to call ``trending.score`` per paper, which
wraps each value in a 1-element numpy array: that measured numpy's per-call overhead, not
the arithmetic, and flattered the vectorised path (at 1M papers that baseline took 66 s, plain
Python takes 1.2 s: the speed-up it printed, 343x, is 33x).

Both sides start from the same Python floats (one list per column) and end with every paper's
score; the vectorised side is timed with its arrays ready, and with building them from those
lists (recompute_trending builds its arrays from Python values too). Each timing is the best
of REPEATS runs, as timeit does, because other work on the machine only ever adds time. Also a
full `recompute_trending` through the store on the shared data.

Then what the windows rank, on the shared data (anchor 2026-07-31): how many of the week's top
50 are in the month's top 50, and where the month's ten most upvoted papers rank in the month,
with the decay scaled to each window (``window_tau``) against the baseline of one 3-day tau for
every window (what the score used before), both through ``rank_window`` in this process.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
from common import SHARED, describe_machine, print_table

from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import rank_window, recompute_trending, trending_anchor
from papertrend.store import Store, open_store
from papertrend.rank.trending import (GRAVITY, TAU_DAYS, W_COMMENTS, W_STARS, W_UPVOTES, W_VELOCITY, Signals,
                                      score, score_arrays, star_gain)

REPEATS = 3
COLUMNS = ("up", "com", "stars", "gained", "days", "age")
T = TypeVar("T")
R = TypeVar("R")


def score_one(upvotes: float, comments: float, stars: float | None, gained: float | None,
              gain_days: float | None, age: float) -> float:
    """One paper's trending score in plain Python: rank/trending.py's formula, term by term.
    None means unknown and counts as 0 (gain_days: as 1 day), as NaN does in ``score_arrays``."""
    per_day = 0.0 if gained is None else max(gained, 0.0) / max(1.0 if gain_days is None else gain_days, 1.0)
    decay = (1.0 + max(age, 0.0) / TAU_DAYS) ** -GRAVITY
    return (W_VELOCITY * math.log1p(per_day) * decay
            + W_STARS * math.log1p(max(0.0 if stars is None else stars, 0.0)) * decay
            + W_UPVOTES * math.log1p(max(upvotes, 0.0)) * decay
            + W_COMMENTS * math.log1p(max(comments, 0.0)) * decay)


def best_of(fn: Callable[[T], R], arg: T) -> tuple[float, R]:
    """Shortest of REPEATS runs of ``fn(arg)`` in seconds, and the last run's result."""
    best = math.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best, out


def vectorised(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return score_arrays(*(arrays[k] for k in COLUMNS))["score"]


def vectorised_from_lists(lists: dict[str, list[float]]) -> np.ndarray:
    return vectorised({k: np.array(lists[k], dtype=float) for k in COLUMNS})


def one_at_a_time(lists: dict[str, list[float]]) -> list[float]:
    return [score_one(*values) for values in zip(*(lists[k] for k in COLUMNS), strict=True)]


def check_edge_cases() -> None:
    """score_one against the library's per-paper score where values are missing or odd."""
    cases = [Signals(), Signals(3, 1, None, None, None, 2.0), Signals(0, 0, 120, -5, 7.0, 0.0),
             Signals(40, 2, 900, 300, 0.5, 12.0), Signals(1, 0, 5, 3, None, 30.0)]
    for s in cases:
        mine = score_one(s.upvotes, s.comments, s.stars, s.stars_gained, s.gain_days, s.age_days)
        if abs(mine - score(s).score) > 1e-9:
            raise SystemExit(f"baseline score_one disagrees with trending.score on {s}: {mine} != {score(s).score}")


def synthetic(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[list[tuple[str, int]]]]:
    now = datetime(2026, 8, 1, tzinfo=UTC)
    up = rng.geometric(0.15, n).astype(float)
    com = rng.poisson(1.0, n).astype(float)
    stars = rng.lognormal(2.5, 2.0, n).round()
    age = rng.integers(0, 30, n).astype(float)
    histories = []
    for i in range(n):
        start = stars[i]
        histories.append([((now - timedelta(days=28 - 7 * k)).isoformat(), int(start + k * (i % 50)))
                          for k in range(5)])
    return {"up": up, "com": com, "stars": stars, "age": age}, histories


def main() -> None:
    machine = describe_machine()
    print(f"machine: {machine}")
    check_edge_cases()
    rng = np.random.default_rng(7)
    rows = []
    worst = 0.0
    for n in (10_000, 100_000, 1_000_000):
        data, histories = synthetic(n, rng)
        t0 = time.perf_counter()
        gains = [star_gain(h, 7) for h in histories]
        t_gain = time.perf_counter() - t0
        del histories
        data["gained"] = np.array([g[0] for g in gains], dtype=float)
        data["days"] = np.array([g[1] for g in gains], dtype=float)
        lists = {k: data[k].tolist() for k in COLUMNS}
        t_score, scores = best_of(vectorised, data)
        t_built, _ = best_of(vectorised_from_lists, lists)
        t_loop, plain = best_of(one_at_a_time, lists)
        worst = max(worst, float(np.max(np.abs(np.asarray(plain) - scores))))
        rows.append([f"{n:,}", f"{t_gain:.2f}", f"{t_score * 1000:.1f}", f"{t_built * 1000:.1f}",
                     f"{t_loop * 1000:.0f}", f"{t_loop / t_score:,.0f}x", f"{t_loop / t_built:,.1f}x"])
    if worst > 1e-9:
        raise SystemExit(f"baseline scores differ from score_arrays by up to {worst:.3g}")
    print_table(f"trending scoring, best of {REPEATS} ({machine})",
                ["papers", "star gains s", "numpy ms (arrays ready)", "numpy ms (incl. building arrays)",
                 "baseline ms (plain Python, one at a time)", "speed-up", "speed-up incl. building"], rows)
    print(f"baseline and numpy scores agree on every paper: largest difference {worst:.1e}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{tmp}/t.db")
        store = open_store(settings)
        import_paths(store, settings, [SHARED])
        t0 = time.perf_counter()
        sizes = recompute_trending(store, now=datetime(2026, 8, 1, tzinfo=UTC))
        full = time.perf_counter() - t0
        print(f"\nfull recompute through the store on the shared data ({store.papers.count():,} papers): "
              f"{full * 1000:.0f} ms for windows {sizes}")
        windows_table(store, datetime(2026, 8, 1, tzinfo=UTC))


def windows_table(store: Store, now: datetime) -> None:
    """Week vs month: top-50 overlap and the month's most upvoted papers' ranks, before/after."""
    anchor = trending_anchor(store, now)
    since = (anchor - timedelta(days=29)).isoformat()
    rows = []
    for label, tau in (("baseline: tau 3 days in every window", TAU_DAYS), ("tau scaled to the window", None)):
        week = rank_window(store, anchor, 7, now, tau_days=tau)
        month = rank_window(store, anchor, 30, now, tau_days=tau)
        shared = len({r["paper_id"] for r in week[:50]} & {r["paper_id"] for r in month[:50]})
        papers = store.papers.get_many([r["paper_id"] for r in month])
        listed = [p for p in papers.values() if (p.list_date or "") >= since]
        most = sorted(listed, key=lambda p: (-p.upvotes, p.id))[:10]
        rank = {r["paper_id"]: r["rank"] for r in month}
        ranks = [rank[p.id] for p in most]
        rows.append([label, f"{shared} of 50", " ".join(map(str, ranks)), max(ranks),
                     sum(r <= 50 for r in ranks)])
    print_table(f"what the windows rank (anchor {anchor}; month's ten most upvoted: "
                f"{', '.join(str(p.upvotes) for p in most)} upvotes)",
                ["decay", "week top 50 in month top 50", "month's 10 most upvoted: their month ranks",
                 "worst", "in month top 50"], rows)


if __name__ == "__main__":
    main()
