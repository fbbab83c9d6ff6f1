"""Local upvotes, damped: what the votes cast on this site add to a paper's trending score.

The rule (``papertrend rank explain`` prints it):

- a vote from an account younger than ``vote_fresh_account_hours`` when it voted weighs
  ``vote_fresh_weight`` (0.25 by default): a handful of accounts made today cannot buy the
  front page, and a real reader's vote counts fully from their second day;
- votes on one paper from one client (a keyed hash of the address they came from) form a
  burst: the first weighs fully, the k-th 1/k of that. Ten accounts voting from one address
  add 1 + 1/2 + ... + 1/10 = 2.9 votes, not 10.

Each vote weighs at most 1, and adding or removing one vote changes a paper's damped count by
at most 1 (the later votes of its burst move one place, a telescoping sum below 1); the count is
a pure function of the stored votes, so removing a vote restores the score exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class VoteLike(Protocol):
    @property
    def paper_id(self) -> str: ...
    @property
    def user_id(self) -> int: ...
    @property
    def at(self) -> float: ...
    @property
    def client(self) -> str: ...
    @property
    def account_created(self) -> float: ...


@dataclass(frozen=True)
class Damping:
    fresh_account_hours: float = 24.0
    fresh_weight: float = 0.25

    def describe(self) -> str:
        return (f"local upvotes are damped: a vote from an account younger than {self.fresh_account_hours:g} h "
                f"weighs {self.fresh_weight:g}; the k-th vote on a paper from one client address weighs 1/k")


@dataclass(frozen=True)
class LocalVotes:
    damped: float     # the damped count the score uses
    voters: int       # the votes as cast


def damped_votes(votes: Iterable[VoteLike], rule: Damping) -> dict[str, LocalVotes]:
    """Each paper's damped vote count. The order within a burst is by time, then account."""
    by_paper: dict[str, list[VoteLike]] = defaultdict(list)
    for v in votes:
        by_paper[v.paper_id].append(v)
    out = {}
    for paper_id, cast in by_paper.items():
        seen: dict[str, int] = defaultdict(int)
        total = 0.0
        for v in sorted(cast, key=lambda v: (v.at, v.user_id)):
            seen[v.client] += 1
            fresh = v.at - v.account_created < rule.fresh_account_hours * 3600
            total += (rule.fresh_weight if fresh else 1.0) / seen[v.client]
        out[paper_id] = LocalVotes(total, len(cast))
    return out
