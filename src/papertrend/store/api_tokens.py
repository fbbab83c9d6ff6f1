"""Personal API tokens: the Bearer token an account's scripts send to comment and upvote
through the API. Only a SHA-256 of each token is stored (the account page shows a new token
once); revoking deletes the row, so the token stops working at its next request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from ..models import User
from . import schema as t
from .base import SubStore


@dataclass(frozen=True)
class ApiToken:
    """A token as the account page lists it (never the token itself)."""
    id: int
    name: str
    created_at: str
    last_used_at: str | None


class ApiTokenStore(SubStore):
    """``store.api_tokens``. Each public method is one transaction."""

    def add(self, user_id: int, token_hash: str, name: str, now: str) -> int:
        """Store a new token's hash; its id."""
        with self._write() as conn:
            new_id: int = conn.execute(t.api_tokens.insert().values(
                user_id=user_id, token_hash=token_hash, name=name, created_at=now).returning(t.api_tokens.c.id)
            ).scalar_one()
            return new_id

    def of(self, user_id: int) -> list[ApiToken]:
        c = t.api_tokens.c
        with self._read() as conn:
            return [ApiToken(r.id, r.name, r.created_at, r.last_used_at) for r in conn.execute(
                select(c.id, c.name, c.created_at, c.last_used_at).where(c.user_id == user_id).order_by(c.id))]

    def count(self, user_id: int) -> int:
        with self._read() as conn:
            n: int = conn.execute(select(func.count()).select_from(t.api_tokens).where(
                t.api_tokens.c.user_id == user_id)).scalar_one()
            return n

    def revoke(self, user_id: int, token_id: int) -> bool:
        """Only the account's own token; False when it has no such token."""
        c = t.api_tokens.c
        with self._write() as conn:
            return conn.execute(delete(t.api_tokens).where(c.id == token_id, c.user_id == user_id)).rowcount == 1

    def user_of(self, token_hash: str, now: str) -> User | None:
        """The account whose token has this hash (noting when it was last used), or None."""
        c = t.api_tokens.c
        with self._write() as conn:
            row = conn.execute(select(c.id, c.user_id, c.last_used_at).where(c.token_hash == token_hash)).first()
            if row is None:
                return None
            # Written at most once a minute per token: a busy script is not a write per request.
            if row.last_used_at is None or row.last_used_at[:16] != now[:16]:
                conn.execute(update(t.api_tokens).where(c.id == row.id).values(last_used_at=now))
            user_id: int = row.user_id
        return self._store.accounts.get(user_id)
