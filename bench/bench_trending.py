"""Trending recompute time at 10k / 100k / 1M papers with star histories (5 snapshots each).

Measures the scoring step (star gains from histories + the vectorised score) and, as the
baseline in the same process, the same scores computed one paper at a time in plain Python.
Also a full `recompute_trending` through the store on the shared data.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from common import SHARED, print_table

from papertrend.config import load_settings
from papertrend.ingest.importer import import_paths
from papertrend.rank.recompute import recompute_trending
from papertrend.store import open_store
from papertrend.rank.trending import Signals, score, score_arrays, star_gain


def synthetic(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[list[tuple[str, int]]]]:
    now = datetime(2026, 8, 1, tzinfo=UTC)
    up = rng.geometric(0.15, n).astype(float)
    com = rng.poisson(1.0, n).astype(float)
    stars = rng.lognormal(2.5, 2.0, n).round()
    age = rng.integers(0, 30, n).astype(float)
    histories = []
    for i in range(n):
        start = stars[i]
        histories.append([((now - timedelta(days=28 - 7 * k)).isoformat(), int(start + k * (i % 50))) for k in range(5)])
    return {"up": up, "com": com, "stars": stars, "age": age}, histories


def main() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for n in (10_000, 100_000, 1_000_000):
        data, histories = synthetic(n, rng)
        t0 = time.perf_counter()
        gains = [star_gain(h, 7) for h in histories]
        t_gain = time.perf_counter() - t0
        gained = np.array([g[0] for g in gains], dtype=float)
        days = np.array([g[1] for g in gains], dtype=float)
        t0 = time.perf_counter()
        score_arrays(data["up"], data["com"], data["stars"], gained, days, data["age"])
        t_score = time.perf_counter() - t0
        sample = min(n, 100_000)
        t0 = time.perf_counter()
        for i in range(sample):
            score(Signals(int(data["up"][i]), int(data["com"][i]), int(data["stars"][i]), int(gained[i]), days[i], data["age"][i]))
        t_loop = (time.perf_counter() - t0) * n / sample
        rows.append([f"{n:,}", f"{t_gain:.2f}", f"{t_score * 1000:.1f}", f"{t_loop:.1f}", f"{t_loop / t_score:,.0f}x"])
        del histories
    print_table("trending scoring (2 cores)", ["papers", "star gains s", "score ms (numpy)",
                                               "baseline s (one at a time)", "speed-up"], rows)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{tmp}/t.db")
        store = open_store(settings)
        import_paths(store, settings, [SHARED])
        t0 = time.perf_counter()
        sizes = recompute_trending(store, now=datetime(2026, 8, 1, tzinfo=UTC))
        full = time.perf_counter() - t0
    print(f"\nfull recompute through the store on the shared data ({store.papers.count():,} papers): "
          f"{full * 1000:.0f} ms for windows {sizes}")


if __name__ == "__main__":
    main()
