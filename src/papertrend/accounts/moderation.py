"""Moderators' actions, the same from /moderation and `papertrend moderation act`: who may do
what to which, checked once, then recorded in the audit log by the store."""

from __future__ import annotations

from ..errors import BadRequest, Forbidden, NotFound
from ..models import User
from ..store import Store
from ..store.community import ACTIONS

# What each action applies to.
APPLIES = {"hide": ("paper", "comment"), "restore": ("paper", "comment"), "suspend": ("user",),
           "unsuspend": ("user",), "dismiss": ("paper", "comment")}


def moderate(store: Store, actor: User, action: str, kind: str, target: str, reason: str, now: float) -> str:
    """Do ``action`` to ``kind`` ``target`` (an account by name or id) as ``actor``, with a
    reason; returns the target's id as recorded."""
    if not actor.has_role("moderator"):
        raise Forbidden("Only moderators and admins can moderate.")
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
    if kind not in APPLIES[action]:
        raise BadRequest(f"{action} applies to: {', '.join(APPLIES[action])}")
    reason = " ".join(reason.split())[:500]
    if not reason:
        raise BadRequest("Say why: the reason is kept in the audit log.")
    target = target.strip()[:64]
    if kind == "user":
        if not target.isdigit():
            named = store.community.user_by_name(target)
            target = str(named.id) if named else target
        if target == str(actor.id):
            raise BadRequest("You cannot suspend or restore your own account.")
        other = store.accounts.get(int(target)) if target.isdigit() and len(target) < 18 else None
        if other is not None and other.role == "admin" and not actor.has_role("admin"):
            raise Forbidden("Only an admin can suspend an admin.")
    if not store.community.moderate(actor.id, action, kind, target, reason, now):
        raise NotFound(f"No {kind} {target[:40]!r}.")
    return target
