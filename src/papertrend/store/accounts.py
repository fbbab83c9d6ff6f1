"""Accounts and their sign-in links. Only a hash of each emailed secret is stored."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..models import User
from . import schema as t
from .base import SubStore


def _user(r: Any) -> User:
    return User(id=r.id, email=r.email, name=r.name, role=r.role, status=r.status, session_epoch=r.session_epoch,
                created_at=r.created_at, last_signed_in=r.last_signed_in)


class AccountStore(SubStore):
    """``store.accounts``."""

    def get(self, user_id: int) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.email == email)).first()
        return _user(row) if row else None

    def create(self, email: str, role: str, now: str) -> User:
        """The account of ``email`` (made now unless it exists), named after the address."""
        base = re.sub(r"[^a-z0-9]+", "-", email.split("@")[0].lower()).strip("-")[:30] or "reader"
        with self._write() as conn:
            row = conn.execute(select(t.users).where(t.users.c.email == email)).first()
            if row is not None:
                return _user(row)
            taken = set(conn.execute(select(t.users.c.name).where(t.users.c.name.like(f"{base}%"))).scalars())
            name = base if base not in taken else next(
                f"{base}-{i}" for i in range(2, len(taken) + 3) if f"{base}-{i}" not in taken)
            conn.execute(t.users.insert().values(email=email, name=name, role=role, status="active", session_epoch=0,
                                                 created_at=now))
            return _user(conn.execute(select(t.users).where(t.users.c.email == email)).one())

    def list(self, limit: int = 200) -> list[User]:
        with self._read() as conn:
            return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.id).limit(limit))]

    def set_role(self, user_id: int, role: str) -> None:
        with self._write() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(role=role))

    def end_sessions(self, user_id: int) -> None:
        """Sign out everywhere: every session cookie issued so far stops working."""
        with self._write() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(
                session_epoch=t.users.c.session_epoch + 1))

    def add_signin_token(self, token_hash: str, email: str, now: str, expires_at: float) -> None:
        try:
            with self._write() as conn:
                conn.execute(t.signin_tokens.insert().values(token_hash=token_hash, email=email, created_at=now,
                                                             expires_at=expires_at))
        except IntegrityError:  # the same random token twice: not in this universe, but never half-stored
            raise ValueError("token collision") from None

    def redeem_signin_token(self, token_hash: str, now: float, now_iso: str) -> str | None:
        """The address of an unused, unexpired token, which is used up now; None otherwise.
        One UPDATE decides, so two clicks (or two processes) cannot both use it."""
        c = t.signin_tokens.c
        with self._write() as conn:
            used = conn.execute(update(t.signin_tokens).where(
                c.token_hash == token_hash, c.used_at.is_(None), c.expires_at >= now).values(used_at=now_iso)).rowcount
            if used != 1:
                return None
            email: str = conn.execute(select(c.email).where(c.token_hash == token_hash)).scalar_one()
            # Old tokens are kept a day for the record, then forgotten.
            conn.execute(t.signin_tokens.delete().where(c.expires_at < now - 86400))
            return email

    def signed_in(self, user_id: int, now: str) -> None:
        with self._write() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(last_signed_in=now))
