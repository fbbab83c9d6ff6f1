"""Personal feed addresses: per account, the nonce its secret feed URL is signed with."""

from __future__ import annotations

from sqlalchemy import delete, select

from . import schema as t
from .base import SubStore, upsert


class FeedSecretStore(SubStore):
    """``store.feed_secrets``."""

    def get(self, user_id: int) -> tuple[str, str] | None:
        """The account's nonce and when it was made, or None when it has no feed address."""
        with self._read() as conn:
            row = conn.execute(select(t.feed_secrets.c.nonce, t.feed_secrets.c.created_at)
                               .where(t.feed_secrets.c.user_id == user_id)).first()
        return (row.nonce, row.created_at) if row else None

    def renew(self, user_id: int, nonce: str, now: str) -> None:
        """Give the account a new nonce: its old feed address, if any, stops working."""
        with self._write() as conn:
            # One statement: two renewals at once both succeed, and the later one's nonce stands.
            upsert(conn, t.feed_secrets, ("user_id",), [{"user_id": user_id, "nonce": nonce, "created_at": now}],
                   ("nonce", "created_at"))

    def revoke(self, user_id: int) -> None:
        with self._write() as conn:
            conn.execute(delete(t.feed_secrets).where(t.feed_secrets.c.user_id == user_id))
