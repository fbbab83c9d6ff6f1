"""The research community's data: local upvotes, comments, the personal library, submissions,
reports, hidden papers, and the moderators' audit log.

Uniqueness is the database's: one upvote per account and paper is the primary key of ``votes``,
so a double click or two processes voting at once store one row (the losing INSERT fails inside
a savepoint and changes nothing). Every change appends to ``community_events``; its newest
number is part of the data version, so cached pages show new counts at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..models import User
from . import schema as t
from .base import SubStore, insert_new, upsert
from .batching import chunks

ACTIONS = ("hide", "restore", "suspend", "unsuspend", "dismiss")


@dataclass(frozen=True)
class Counts:
    """A paper's local upvotes and visible comments."""
    votes: int = 0
    comments: int = 0


@dataclass
class Comment:
    id: int
    paper_id: str
    user_id: int
    author: str
    parent_id: int | None
    body: str
    status: str              # visible, hidden, deleted
    created_at: float
    edited_at: float | None
    replies: list["Comment"]

    def to_json(self) -> dict[str, Any]:
        shown = self.status == "visible"
        return {"id": self.id, "paper_id": self.paper_id, "author": self.author if shown else None,
                "parent_id": self.parent_id, "body": self.body if shown else None, "status": self.status,
                "created_at": self.created_at, "edited_at": self.edited_at,
                "replies": [r.to_json() for r in self.replies]}


@dataclass(frozen=True)
class Vote:
    """One stored upvote, with what the damping rule needs (rank/trending.py)."""
    paper_id: str
    user_id: int
    at: float
    client: str
    account_created: float   # epoch seconds of the voter's account


@dataclass(frozen=True)
class Report:
    id: int
    kind: str
    target: str
    reporter: str
    reason: str
    at: float


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    kind: str
    target: str
    reason: str


def _epoch(iso: str | None) -> float:
    if not iso:
        return 0.0
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# Comment ids are INTEGER columns: 32 bits on PostgreSQL, which refuses to compare with a larger
# number (SQLite just finds nothing). A number out of that range names no comment.
MAX_ID = 2**31 - 1


def _in_range(comment_id: int) -> bool:
    return -MAX_ID <= comment_id <= MAX_ID


def _event(conn: Connection, kind: str, now: float, paper_id: str | None = None, user_id: int | None = None) -> None:
    conn.execute(insert(t.community_events).values(at=now, kind=kind, paper_id=paper_id, user_id=user_id))


def _inserted(conn: Connection, stmt: Any) -> bool:
    """Run an INSERT in a savepoint: False (and nothing changed) when a constraint refuses it."""
    try:
        with conn.begin_nested():
            conn.execute(stmt)
        return True
    except IntegrityError:
        return False


def _toggle(conn: Connection, table: Any, on: bool, user_id: int, paper_id: str, now: float,
            events: tuple[str, str], **columns: Any) -> bool:
    """Add (``on``) or remove an account's row for a paper (a vote, a save), recording the event
    when it changed anything: the row's key makes a double click one row, never two."""
    if on:
        changed = _inserted(conn, insert(table).values(user_id=user_id, paper_id=paper_id, at=now, **columns))
    else:
        changed = conn.execute(delete(table).where(table.c.user_id == user_id,
                                                   table.c.paper_id == paper_id)).rowcount == 1
    if changed:
        _event(conn, events[0] if on else events[1], now, paper_id, user_id)
    return changed


class CommunityStore(SubStore):
    """``store.community``. Each public method is one transaction."""

    # -- upvotes -------------------------------------------------------------------------------

    def vote(self, user_id: int, paper_id: str, up: bool, now: float, client: str) -> bool:
        """Add (``up``) or remove the account's upvote; True when that changed anything."""
        with self._write() as conn:
            return _toggle(conn, t.votes, up, user_id, paper_id, now, ("vote", "unvote"), client=client[:32])

    def counts(self, paper_ids: Sequence[str]) -> dict[str, Counts]:
        """Local upvotes and visible comments of each paper (papers with neither are absent)."""
        votes: dict[str, int] = defaultdict(int)
        comments: dict[str, int] = defaultdict(int)
        with self._read() as conn:
            for chunk in chunks(sorted(set(paper_ids))):
                for pid, n in conn.execute(select(t.votes.c.paper_id, func.count()).where(
                        t.votes.c.paper_id.in_(chunk)).group_by(t.votes.c.paper_id)):
                    votes[pid] = n
                for pid, n in conn.execute(select(t.comments.c.paper_id, func.count()).where(
                        t.comments.c.paper_id.in_(chunk), t.comments.c.status == "visible")
                        .group_by(t.comments.c.paper_id)):
                    comments[pid] = n
        return {pid: Counts(votes[pid], comments[pid]) for pid in set(votes) | set(comments)}

    def marks(self, user_id: int, paper_ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """Which of ``paper_ids`` the account upvoted, and which it saved."""
        voted: set[str] = set()
        saved: set[str] = set()
        with self._read() as conn:
            for chunk in chunks(sorted(set(paper_ids))):
                voted.update(conn.execute(select(t.votes.c.paper_id).where(
                    t.votes.c.user_id == user_id, t.votes.c.paper_id.in_(chunk))).scalars())
                saved.update(conn.execute(select(t.library.c.paper_id).where(
                    t.library.c.user_id == user_id, t.library.c.paper_id.in_(chunk))).scalars())
        return voted, saved

    def votes_since(self, since: float, until: float) -> list[Vote]:
        """Upvotes cast in [since, until], with each voter's account age (for the damping rule)."""
        query = (select(t.votes.c.paper_id, t.votes.c.user_id, t.votes.c.at, t.votes.c.client,
                        t.users.c.created_at)
                 .join(t.users, t.users.c.id == t.votes.c.user_id)
                 .where(t.votes.c.at >= since, t.votes.c.at <= until)
                 .order_by(t.votes.c.paper_id, t.votes.c.at, t.votes.c.user_id))
        with self._read() as conn:
            return [Vote(r.paper_id, r.user_id, r.at, r.client, _epoch(r.created_at)) for r in conn.execute(query)]

    def comments_since(self, since: float, until: float) -> dict[str, int]:
        """Visible comments posted in [since, until], per paper (a trending signal)."""
        c = t.comments.c
        with self._read() as conn:
            return {pid: n for pid, n in conn.execute(
                select(c.paper_id, func.count()).where(c.created_at >= since, c.created_at <= until,
                                                       c.status == "visible").group_by(c.paper_id))}

    def vote_count(self, paper_id: str) -> int:
        with self._read() as conn:
            n: int = conn.execute(select(func.count()).select_from(t.votes).where(
                t.votes.c.paper_id == paper_id)).scalar_one()
            return n

    def vote_series(self, paper_id: str) -> list[tuple[float, str]]:
        """The paper's upvote events in time order: (epoch seconds, "vote" or "unvote")."""
        c = t.community_events.c
        with self._read() as conn:
            return [(r.at, r.kind) for r in conn.execute(
                select(c.at, c.kind).where(c.paper_id == paper_id, c.kind.in_(("vote", "unvote"))).order_by(c.seq))]

    def version(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.max(t.community_events.c.seq))).scalar() or 0)

    # -- comments ------------------------------------------------------------------------------

    def add_comment(self, paper_id: str, user_id: int, parent_id: int | None, body: str, now: float) -> int | None:
        """The new comment's id; None when ``parent_id`` is not a comment on this paper. A reply
        to a reply joins its thread: one level of replies."""
        c = t.comments.c
        with self._write() as conn:
            if parent_id is not None:
                if not _in_range(parent_id):
                    return None
                parent = conn.execute(select(c.id, c.parent_id).where(c.id == parent_id,
                                                                      c.paper_id == paper_id)).first()
                if parent is None:
                    return None
                parent_id = parent.parent_id or parent.id
            values = {"paper_id": paper_id, "user_id": user_id, "parent_id": parent_id, "body": body,
                      "status": "visible", "created_at": now}
            new_id: int = conn.execute(insert(t.comments).values(**values).returning(c.id)).scalar_one()
            _event(conn, "comment", now, paper_id, user_id)
            return new_id

    def comment(self, comment_id: int) -> Comment | None:
        if not _in_range(comment_id):
            return None
        with self._read() as conn:
            rows = list(conn.execute(self._comment_query().where(t.comments.c.id == comment_id)))
        return _comment(rows[0]) if rows else None

    def edit_comment(self, comment_id: int, user_id: int, body: str, now: float) -> bool:
        """Only the author edits, and only a visible comment."""
        if not _in_range(comment_id):
            return False
        c = t.comments.c
        with self._write() as conn:
            done = conn.execute(update(t.comments).where(c.id == comment_id, c.user_id == user_id,
                                                         c.status == "visible")
                                .values(body=body, edited_at=now)).rowcount == 1
            if done:
                _event(conn, "edit", now, None, user_id)
            return done

    def delete_comment(self, comment_id: int, user_id: int, now: float) -> bool:
        """The author's own deletion: the text is gone; replies stay under a "deleted" mark."""
        if not _in_range(comment_id):
            return False
        c = t.comments.c
        with self._write() as conn:
            done = conn.execute(update(t.comments).where(c.id == comment_id, c.user_id == user_id,
                                                         c.status != "deleted")
                                .values(body="", status="deleted", edited_at=now)).rowcount == 1
            if done:
                _event(conn, "delete", now, None, user_id)
            return done

    def thread(self, paper_id: str) -> list[Comment]:
        """A paper's comments, oldest first, replies under their comment. Deleted and hidden ones
        are kept as marks only while replies hang under them."""
        with self._read() as conn:
            rows = [_comment(r) for r in conn.execute(self._comment_query().where(
                t.comments.c.paper_id == paper_id).order_by(t.comments.c.created_at, t.comments.c.id))]
        top = [r for r in rows if r.parent_id is None]
        by_id = {r.id: r for r in top}
        for r in rows:
            if r.parent_id is not None and r.parent_id in by_id and r.status == "visible":
                by_id[r.parent_id].replies.append(r)
        return [r for r in top if r.status == "visible" or r.replies]

    def comments_by(self, user_id: int, limit: int = 50) -> list[Comment]:
        c = t.comments.c
        with self._read() as conn:
            return [_comment(r) for r in conn.execute(self._comment_query().where(
                c.user_id == user_id, c.status == "visible").order_by(c.created_at.desc()).limit(limit))]

    @staticmethod
    def _comment_query() -> Any:
        return select(t.comments, t.users.c.name.label("author")).join(t.users, t.users.c.id == t.comments.c.user_id)

    # -- library -------------------------------------------------------------------------------

    def save(self, user_id: int, paper_id: str, saved: bool, now: float) -> bool:
        with self._write() as conn:
            return _toggle(conn, t.library, saved, user_id, paper_id, now, ("save", "unsave"))

    def library(self, user_id: int, limit: int = 1000, offset: int = 0) -> list[str]:
        """The ids the account saved, newest first."""
        with self._read() as conn:
            return list(conn.execute(select(t.library.c.paper_id).where(t.library.c.user_id == user_id)
                                     .order_by(t.library.c.at.desc(), t.library.c.paper_id)
                                     .limit(limit).offset(offset)).scalars())

    def library_size(self, user_id: int) -> int:
        with self._read() as conn:
            n: int = conn.execute(select(func.count()).select_from(t.library).where(
                t.library.c.user_id == user_id)).scalar_one()
            return n

    def upvoted_by(self, user_id: int, limit: int = 50) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(select(t.votes.c.paper_id).where(t.votes.c.user_id == user_id)
                                     .order_by(t.votes.c.at.desc()).limit(limit)).scalars())

    # -- submissions ---------------------------------------------------------------------------

    def submitted_since(self, user_id: int, since: float) -> int:
        with self._read() as conn:
            n: int = conn.execute(select(func.count()).select_from(t.submissions).where(
                t.submissions.c.user_id == user_id, t.submissions.c.at >= since)).scalar_one()
            return n

    def record_submission(self, paper_id: str, user_id: int, now: float) -> bool:
        """False when the paper was submitted before (by anyone)."""
        with self._write() as conn:
            done = _inserted(conn, insert(t.submissions).values(paper_id=paper_id, user_id=user_id, at=now))
            if done:
                _event(conn, "submit", now, paper_id, user_id)
            return done

    def submitters(self, paper_ids: Sequence[str]) -> dict[str, str]:
        """The account name of each of ``paper_ids`` a local account submitted."""
        query = select(t.submissions.c.paper_id, t.users.c.name).join(t.users, t.users.c.id == t.submissions.c.user_id)
        out: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(paper_ids))):
                out.update((r.paper_id, r.name) for r in conn.execute(query.where(t.submissions.c.paper_id.in_(chunk))))
        return out

    def submitted_by(self, user_id: int, limit: int = 50) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(select(t.submissions.c.paper_id).where(t.submissions.c.user_id == user_id)
                                     .order_by(t.submissions.c.at.desc()).limit(limit)).scalars())

    # -- profiles ------------------------------------------------------------------------------

    def user_by_name(self, name: str) -> User | None:
        if "\x00" in name:   # no name holds one, and PostgreSQL refuses to compare with it
            return None
        with self._read() as conn:
            row = conn.execute(select(t.users.c.id).where(t.users.c.name == name)).first()
        return self._store.accounts.get(row.id) if row else None

    def votes_public(self, user_id: int) -> bool:
        with self._read() as conn:
            return bool(conn.execute(select(t.profiles.c.votes_public).where(t.profiles.c.user_id == user_id)).scalar())

    def set_votes_public(self, user_id: int, public: bool) -> None:
        with self._write() as conn:
            # One statement: two requests at once cannot both find no row and both insert one.
            upsert(conn, t.profiles, ("user_id",), [{"user_id": user_id, "votes_public": public}], ("votes_public",))

    # -- reports and moderation ----------------------------------------------------------------

    def report(self, kind: str, target: str, user_id: int, reason: str, now: float) -> bool:
        """False when this account already reported it (and it is still open)."""
        with self._write() as conn:
            c = t.reports.c
            # A report that was dealt with may be made again: the old one is dropped.
            conn.execute(delete(t.reports).where(c.kind == kind, c.target == target, c.user_id == user_id,
                                                 c.resolved_at.is_not(None)))
            done = _inserted(conn, insert(t.reports).values(kind=kind, target=target, user_id=user_id, reason=reason,
                                                            at=now))
            if done:
                _event(conn, "report", now, None, user_id)
            return done

    def open_reports(self, limit: int = 200) -> list[Report]:
        c = t.reports.c
        query = (select(t.reports, t.users.c.name.label("reporter")).join(t.users, t.users.c.id == c.user_id)
                 .where(c.resolved_at.is_(None)).order_by(c.at).limit(limit))
        with self._read() as conn:
            return [Report(r.id, r.kind, r.target, r.reporter, r.reason, r.at) for r in conn.execute(query)]

    def moderate(self, actor_id: int, action: str, kind: str, target: str, reason: str, now: float) -> bool:
        """Hide or restore a paper or comment, suspend or restore an account, or dismiss its
        reports; recorded in the audit log with who and why, and its open reports resolved. False
        when the target does not exist (nothing is recorded then)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        with self._write() as conn:
            if not _exists(conn, kind, target):
                return False
            if action in ("hide", "restore") and kind == "paper":
                if action == "hide":   # two moderators hiding at once: the first time stands
                    insert_new(conn, t.hidden_papers, ("paper_id",), [{"paper_id": target, "at": now}])
                else:
                    conn.execute(delete(t.hidden_papers).where(t.hidden_papers.c.paper_id == target))
            elif action in ("hide", "restore") and kind == "comment":
                c = t.comments.c
                conn.execute(update(t.comments).where(c.id == int(target), c.status != "deleted")
                             .values(status="hidden" if action == "hide" else "visible"))
            elif action in ("suspend", "unsuspend") and kind == "user":
                conn.execute(update(t.users).where(t.users.c.id == int(target)).values(
                    status="suspended" if action == "suspend" else "active"))
            elif action != "dismiss":
                raise ValueError(f"cannot {action} a {kind}")
            conn.execute(update(t.reports).where(t.reports.c.kind == kind, t.reports.c.target == target,
                                                 t.reports.c.resolved_at.is_(None)).values(resolved_at=now))
            conn.execute(insert(t.moderation_log).values(at=now, actor_id=actor_id, action=action, kind=kind,
                                                         target=target, reason=reason))
            _event(conn, action, now, target if kind == "paper" else None, actor_id)
            return True

    def audit(self, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
        c = t.moderation_log.c
        query = (select(t.moderation_log, t.users.c.name.label("actor")).join(t.users, t.users.c.id == c.actor_id)
                 .order_by(c.id.desc()).limit(limit).offset(offset))
        with self._read() as conn:
            return [AuditEntry(r.id, r.at, r.actor, r.action, r.kind, r.target, r.reason) for r in conn.execute(query)]

    def audit_size(self) -> int:
        with self._read() as conn:
            n: int = conn.execute(select(func.count()).select_from(t.moderation_log)).scalar_one()
            return n

    def hidden_paper_ids(self) -> set[str]:
        """Papers moderators hid: lists, search, feeds and digests leave them out."""
        with self._read() as conn:
            return set(conn.execute(select(t.hidden_papers.c.paper_id)).scalars())

    def is_hidden(self, paper_id: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(t.hidden_papers.c.paper_id).where(
                t.hidden_papers.c.paper_id == paper_id)).first() is not None


def submitter_name() -> Any:
    """A paper's submitter as the API shows it (for other sub-stores' queries): the local account
    that submitted it, else the name its daily list gave."""
    local = (select(t.users.c.name).join(t.submissions, t.submissions.c.user_id == t.users.c.id)
             .where(t.submissions.c.paper_id == t.papers.c.id).scalar_subquery())
    return func.coalesce(local, t.papers.c.submitter)


def visible_papers() -> Any:
    """A condition on ``papers`` that leaves hidden papers out (for other sub-stores' queries)."""
    return t.papers.c.id.not_in(select(t.hidden_papers.c.paper_id))


def _exists(conn: Connection, kind: str, target: str) -> bool:
    if kind == "paper":
        return conn.execute(select(t.papers.c.id).where(t.papers.c.id == target)).first() is not None
    if not target.isascii() or not target.isdigit() or len(target) > 18 or not _in_range(int(target)):
        return False
    if kind == "comment":
        return conn.execute(select(t.comments.c.id).where(t.comments.c.id == int(target))).first() is not None
    if kind == "user":
        return conn.execute(select(t.users.c.id).where(t.users.c.id == int(target))).first() is not None
    return False


def _comment(r: Any) -> Comment:
    return Comment(r.id, r.paper_id, r.user_id, r.author, r.parent_id, r.body, r.status, r.created_at, r.edited_at, [])


__all__ = ["ACTIONS", "AuditEntry", "Comment", "CommunityStore", "Counts", "Report", "Vote", "submitter_name",
           "visible_papers"]
