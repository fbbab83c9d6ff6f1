"""What a local upvote does to the trending score, as properties over many random sets of votes:
one account's vote never moves a paper by more than one vote's worth, removing a vote restores
the score exactly, and fresh accounts and bursts from one address are damped. Then the same
rule end to end: votes stored, trending recomputed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings as hsettings, strategies as st
from sqlalchemy import text

from papertrend.rank.trending import W_LOCAL, Signals, score
from papertrend.rank.votes import Damping, damped_votes

NOW = 1_790_000_000.0
RULE = Damping(fresh_account_hours=24.0, fresh_weight=0.25)


@dataclass(frozen=True)
class V:
    paper_id: str
    user_id: int
    at: float
    client: str
    account_created: float


votes = st.lists(st.builds(V, paper_id=st.just("p"), user_id=st.integers(1, 60),
                           at=st.floats(NOW - 7 * 86400, NOW),
                           client=st.sampled_from(["a", "b", "c", "d"]),
                           account_created=st.floats(NOW - 90 * 86400, NOW)),
                 max_size=40, unique_by=lambda v: v.user_id)
others = st.builds(Signals, upvotes=st.integers(0, 5000), comments=st.integers(0, 100),
                   stars=st.one_of(st.none(), st.integers(0, 100_000)), age_days=st.floats(0, 30))


def _count(vs: list[V]) -> float:
    return damped_votes(vs, RULE)["p"].damped if vs else 0.0


def _score(base: Signals, vs: list[V]) -> float:
    return score(Signals(base.upvotes, base.comments, base.stars, base.stars_gained, base.gain_days, base.age_days,
                         local_votes=_count(vs), local_voters=len(vs))).score


def _one_vote_worth(base: Signals, count: float) -> float:
    """One full vote's step of the local part at this count, up or down (whichever is larger)."""
    decay = score(base).decay
    up = math.log1p(count + 1.0) - math.log1p(count)
    down = math.log1p(count) - math.log1p(max(count - 1.0, 0.0))
    return W_LOCAL * decay * max(up, down)


@hsettings(max_examples=300, deadline=None)
@given(vs=votes, base=others, new_user=st.integers(61, 200), at=st.floats(NOW - 7 * 86400, NOW),
       client=st.sampled_from(["a", "b", "c", "z"]), created=st.floats(NOW - 90 * 86400, NOW))
def test_one_vote_moves_a_paper_by_at_most_one_vote(vs: list[V], base: Signals, new_user: int, at: float,
                                                     client: str, created: float) -> None:
    vote = V("p", new_user, at, client, created)
    before, after = _count(vs), _count(vs + [vote])
    assert abs(after - before) <= 1.0 + 1e-9
    assert abs(_score(base, vs + [vote]) - _score(base, vs)) <= _one_vote_worth(base, before) + 1e-12


@hsettings(max_examples=300, deadline=None)
@given(vs=votes.filter(bool), base=others, pick=st.integers(0, 1000))
def test_removing_a_vote_restores_the_score_exactly(vs: list[V], base: Signals, pick: int) -> None:
    removed = vs[pick % len(vs)]
    rest = [v for v in vs if v is not removed]
    # In whatever order the votes are read back, the damped count is the same.
    assert _score(base, rest + [removed]) == _score(base, [removed] + rest)
    assert _score(base, [v for v in vs + [removed] if v is not removed]) == _score(base, rest)


@hsettings(max_examples=200, deadline=None)
@given(vs=votes)
def test_every_vote_weighs_at_most_one_and_the_count_is_bounded(vs: list[V]) -> None:
    count = _count(vs)
    assert 0.0 <= count <= len(vs) + 1e-9


def test_fresh_accounts_and_bursts_are_damped() -> None:
    old = NOW - 30 * 86400
    ten_real = [V("p", i, NOW - i, f"client{i}", old) for i in range(10)]
    ten_fresh = [V("p", i, NOW - i, f"client{i}", NOW - 3600) for i in range(10)]
    ten_one_address = [V("p", i, NOW - i, "same", old) for i in range(10)]
    assert _count(ten_real) == 10.0
    assert _count(ten_fresh) == 2.5
    assert math.isclose(_count(ten_one_address), sum(1 / k for k in range(1, 11)))
    # A fresh account's vote counts fully once it is older than a day when it votes.
    assert _count([V("p", 1, NOW, "x", NOW - 25 * 3600)]) == 1.0


def test_scores_of_many_papers_match_one_at_a_time() -> None:
    from papertrend.rank.trending import score_arrays

    local = np.array([0.0, 1.0, 2.5, 10.0])
    parts = score_arrays(np.array([3.0, 0, 10, 1]), np.zeros(4), np.full(4, np.nan), np.full(4, np.nan),
                         np.full(4, np.nan), np.array([0.0, 1, 2, 3]), local)
    for i in range(4):
        one = score(Signals(upvotes=[3, 0, 10, 1][i], age_days=float(i), local_votes=float(local[i])))
        assert math.isclose(parts["score"][i], one.score) and math.isclose(parts["local_part"][i], one.local_part)


def test_stored_votes_feed_the_recompute(store, settings, shared) -> None:  # type: ignore[no-untyped-def]
    """The votes table is the time series: only votes inside the window count."""
    from papertrend.accounts.signin import add_user
    from papertrend.ingest.importer import import_paths
    from papertrend.rank.recompute import recompute_trending

    import_paths(store, settings, [shared / "hf-daily" / "2026-07-31.json"])
    now = datetime(2026, 8, 1, 12, tzinfo=UTC)
    recompute_trending(store, now)
    last = store.trending.page("month", limit=1000)[-1][0]
    old = (now - timedelta(days=40)).isoformat()
    users = [add_user(store, f"u{i}@example.org", "reader") for i in range(4)]
    with store.write() as conn:   # accounts made long ago, so no vote is damped as fresh
        conn.execute(text("UPDATE users SET created_at = :old"), {"old": old})
    for i, u in enumerate(users[:3]):
        store.community.vote(u.id, last.id, True, now.timestamp() - 3600, f"client{i}")
    store.community.vote(users[3].id, last.id, True, now.timestamp() - 3 * 86400, "client3")   # outside "today"
    recompute_trending(store, now)
    today, month = store.trending.row("today", last.id), store.trending.row("month", last.id)
    assert month is not None and month.local_votes == 4.0 and "+4 upvotes here" in month.reason
    if today is not None:
        assert today.local_votes == 3.0
    store.community.vote(users[0].id, last.id, False, now.timestamp(), "client0")
    recompute_trending(store, now)
    assert store.trending.row("month", last.id).local_votes == 3.0   # type: ignore[union-attr]
    assert [k for _, k in store.community.vote_series(last.id)] == ["vote"] * 4 + ["unvote"]
    # Comments posted here are a signal too, next to the ones Hugging Face reported.
    before = store.trending.row("month", last.id).comments_part  # type: ignore[union-attr]
    store.community.add_comment(last.id, users[1].id, None, "Interesting.", now.timestamp() - 60)
    recompute_trending(store, now)
    assert store.trending.row("month", last.id).comments_part > before  # type: ignore[union-attr]
