"""The trending score: open, additive, and explained in words.

    score = decay(age) * ( W_VELOCITY * log1p(stars gained per day)
                         + W_STARS    * log1p(stars)
                         + W_UPVOTES  * log1p(upvotes)
                         + W_LOCAL    * log1p(damped upvotes here in the window)
                         + W_COMMENTS * log1p(comments) )
    decay(age) = (1 + age_days / tau) ** -GRAVITY,   tau = max(TAU_DAYS, window length in days)

Each part is one term times the decay, so the parts add up to the score exactly and
``papertrend rank explain`` can show them. Why these numbers, from the shared Hugging Face data
(5,564 daily entries): the 90th percentile paper has 33 upvotes (log1p 3.53) and 73 GitHub
stars (log1p 4.30). W_UPVOTES = 1 / 3.53 makes such a paper's upvotes worth one point.
Total stars get half that pull (0.5 / 4.30): a total mostly measures how famous a repository
already was (the 99th percentile, 2,931, are established projects linked from papers), not
what is trending now. Star velocity is what Papers with Code showed and what Hugging Face's
trending is built on: W_VELOCITY = 0.35 makes +20 stars a day worth about one point. Comments
are rare (90% of papers have at most 2): 0.2 / log1p(2). The decay is of the Hacker News
"gravity" family, gentler because the signals are already log-scaled. The decay is scaled to
the window, so each window ranks what stood out in it: a paper as old as the window keeps half
its weight (today: TAU_DAYS = 3 days; week: 7; month: 30). With one 3-day tau for every window
the month was the week again (49 of its top 50 shared, the month's most upvoted papers at ranks
80-124); bench/bench_trending.py measures both.

Upvotes cast here are a signal of their own (their own time series, the votes table), next to
the upvotes imported from Hugging Face: only the votes cast inside the window count, damped
against fresh accounts and bursts from one address (rank/votes.py states the rule). W_LOCAL =
W_UPVOTES: a vote here is worth what one there is, so an instance that ingests arXiv alone
trends by its readers' votes as Hugging Face's does by its own.
Comments posted here inside the window add to the comments Hugging Face reported.

Deterministic for given observations and anchor time; signals that are missing count as 0,
and a paper with one star snapshot (the shared data) falls back to its totals and age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

W_VELOCITY = 0.35
W_STARS = 0.5 / 4.30
W_UPVOTES = 1 / 3.53
W_COMMENTS = 0.2 / 1.10
W_LOCAL = W_UPVOTES
TAU_SHARE = 1.0   # a window's tau as a share of its length (bench/bench_trending.py chose it)
TAU_DAYS = 3.0
GRAVITY = 1.0

WINDOWS = {"today": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class Signals:
    upvotes: int = 0
    comments: int = 0
    stars: int | None = None
    stars_gained: int | None = None   # over gain_days, when two or more snapshots exist
    gain_days: float | None = None
    age_days: float = 0.0
    local_votes: float = 0.0          # damped upvotes cast here in the window (rank/votes.py)
    local_voters: int = 0             # those votes as cast


@dataclass(frozen=True)
class Score:
    score: float
    velocity_part: float
    stars_part: float
    upvotes_part: float
    comments_part: float
    decay: float
    local_part: float = 0.0


def window_tau(window_days: int) -> float:
    """The decay's half-weight age in a window of ``window_days``: TAU_DAYS for a day, the
    window's length (TAU_SHARE of it) for longer ones. With one 3-day tau for every window a
    20-day-old paper kept 13% of its weight, so the month ranked what the week did; scaled, the
    month's oldest papers keep half and the month's best papers lead its list."""
    return max(TAU_DAYS, TAU_SHARE * window_days)


def score_arrays(upvotes: np.ndarray, comments: np.ndarray, stars: np.ndarray, gained: np.ndarray,
                 gain_days: np.ndarray, age_days: np.ndarray,
                 local: np.ndarray | None = None, tau_days: float = TAU_DAYS) -> dict[str, np.ndarray]:
    """Vectorised scoring of many papers; NaN in ``stars`` / ``gained`` means unknown (0);
    ``local`` is the damped count of upvotes cast here (none when not given); ``tau_days`` is
    the window's (:func:`window_tau`)."""
    per_day = np.nan_to_num(np.maximum(gained, 0) / np.maximum(np.nan_to_num(gain_days, nan=1.0), 1.0))
    decay = (1.0 + np.maximum(age_days, 0) / tau_days) ** -GRAVITY
    parts = {
        "velocity_part": W_VELOCITY * np.log1p(per_day) * decay,
        "stars_part": W_STARS * np.log1p(np.maximum(np.nan_to_num(stars), 0)) * decay,
        "upvotes_part": W_UPVOTES * np.log1p(np.maximum(upvotes, 0)) * decay,
        "comments_part": W_COMMENTS * np.log1p(np.maximum(comments, 0)) * decay,
    }
    local = np.zeros_like(decay) if local is None else np.nan_to_num(local)
    parts["local_part"] = W_LOCAL * np.log1p(np.maximum(local, 0)) * decay
    parts["score"] = (parts["velocity_part"] + parts["stars_part"] + parts["upvotes_part"] + parts["local_part"]
                      + parts["comments_part"])
    parts["decay"] = decay
    return parts


def score(s: Signals, tau_days: float = TAU_DAYS) -> Score:
    """The score of one paper (the same arithmetic as :func:`score_arrays`)."""
    def arr(v: float | None) -> np.ndarray:
        return np.array([np.nan if v is None else float(v)])

    p = score_arrays(arr(s.upvotes), arr(s.comments), arr(s.stars), arr(s.stars_gained), arr(s.gain_days),
                     arr(s.age_days), arr(s.local_votes), tau_days)
    return Score(*(float(p[k][0]) for k in ("score", "velocity_part", "stars_part", "upvotes_part",
                                             "comments_part", "decay", "local_part")))


def star_gain(history: list[tuple[str, int]], window_days: int) -> tuple[int, float] | None:
    """Stars gained up to the newest snapshot: since the oldest snapshot inside the window, or,
    when there is none, since the last one before it. None with fewer than two snapshots."""
    if len(history) < 2:
        return None
    end_at, end_stars = history[-1]
    end = _parse_time(end_at)
    cutoff = end - timedelta(days=window_days)
    earlier = history[:-1]
    inside = [(at, n) for at, n in earlier if _parse_time(at) >= cutoff]
    base_at, base_stars = inside[0] if inside else earlier[-1]
    days = (end - _parse_time(base_at)).total_seconds() / 86400
    return end_stars - base_stars, max(days, 0.0)


def _parse_time(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text if "T" in text else text + "T00:00:00+00:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.now().astimezone().tzinfo)


def age_days(list_date: str | None, anchor: date) -> float:
    if not list_date:
        return 0.0
    return float(max(0, (anchor - date.fromisoformat(list_date)).days))


def _count(n: float) -> str:
    n = int(n)
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def reason(s: Signals) -> str:
    """The score in words: '+412 stars in 7 days · +12 upvotes here · 88 upvotes on Hugging Face ·
    3 days old' (upvotes here: those cast in the window)."""
    words = []
    if s.stars_gained is not None and s.gain_days and s.stars_gained > 0:
        words.append(f"+{_count(s.stars_gained)} stars in {max(1, round(s.gain_days))} day"
                     f"{'' if round(s.gain_days) <= 1 else 's'}")
    elif s.stars:
        words.append(f"★ {_count(s.stars)}")
    if s.local_voters:
        words.append(f"+{s.local_voters} upvote{'' if s.local_voters == 1 else 's'} here")
    if s.upvotes:
        words.append(f"{s.upvotes} upvote{'' if s.upvotes == 1 else 's'}"
                     + (" on Hugging Face" if s.local_voters else ""))
    if s.comments:
        words.append(f"{s.comments} comment{'' if s.comments == 1 else 's'}")
    age = int(s.age_days)
    words.append("today" if age == 0 else f"{age} day{'' if age == 1 else 's'} old")
    return " · ".join(words)
