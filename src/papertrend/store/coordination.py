"""Coordinating processes: shared rate limits (politeness slots), job leases, harvest cursors,
and small facts one process learns for the others (``app_state``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from . import schema as t
from .base import SubStore, insert_new, lock_name, upsert, utcnow


class CoordinationStore(SubStore):
    """``store.coordination``. Each method is one write transaction, so two processes that race
    for a slot or a lease are serialised by the database: SQLite's BEGIN IMMEDIATE takes the one
    write lock; on PostgreSQL the row is made if missing (ON CONFLICT DO NOTHING) and then locked
    (SELECT ... FOR UPDATE) before it is read, so the second process waits and reads the first's
    write."""

    def take_slot(self, name: str, now: float, hold: float, holder: str) -> float:
        """Claim the right to start a request now; returns 0 on success, else seconds to wait.

        The slot is held (``next_at`` pushed ``hold`` seconds ahead) until :meth:`release_slot`,
        so a second process cannot open a connection while the first one's request runs.
        """
        with self._write() as conn:
            insert_new(conn, t.rate_limits, ("name",), [{"name": name, "next_at": 0.0, "holder": None}])
            row = conn.execute(select(t.rate_limits.c.next_at).where(t.rate_limits.c.name == name)
                               .with_for_update()).one()
            if row.next_at > now:
                return float(row.next_at - now)
            conn.execute(update(t.rate_limits).where(t.rate_limits.c.name == name)
                         .values(next_at=now + hold, holder=holder))
            return 0.0

    def release_slot(self, name: str, next_at: float) -> None:
        with self._write() as conn:
            conn.execute(update(t.rate_limits).where(t.rate_limits.c.name == name)
                         .values(next_at=next_at, holder=None))

    def get_cursor(self, name: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(t.ingest_cursors.c.value).where(t.ingest_cursors.c.name == name)).first()
        return json.loads(row.value) if row else None

    def set_cursor(self, name: str, value: dict[str, Any] | None) -> None:
        """Save (or, with None, forget) where a harvest resumes."""
        with self._write() as conn:
            if value is None:
                conn.execute(t.ingest_cursors.delete().where(t.ingest_cursors.c.name == name))
            else:
                upsert(conn, t.ingest_cursors, ("name",), [{"name": name, "value": json.dumps(value),
                                                            "updated_at": utcnow()}], ("value", "updated_at"))

    def take_job_lock(self, job: str, holder: str, now: float, lease: float) -> bool:
        """Hold ``job`` for ``lease`` seconds unless another live holder has it."""
        with self._write() as conn:
            insert_new(conn, t.job_locks, ("job",), [{"job": job, "holder": "", "until": 0.0}])
            row = conn.execute(select(t.job_locks).where(t.job_locks.c.job == job).with_for_update()).one()
            if row.until > now and row.holder != holder:
                return False
            conn.execute(update(t.job_locks).where(t.job_locks.c.job == job).values(holder=holder, until=now + lease))
            return True

    def release_job_lock(self, job: str, holder: str) -> None:
        with self._write() as conn:
            conn.execute(t.job_locks.delete().where(t.job_locks.c.job == job, t.job_locks.c.holder == holder))

    def get_state(self, name: str) -> str | None:
        with self._read() as conn:
            value: str | None = conn.execute(select(t.app_state.c.value).where(t.app_state.c.name == name)).scalar()
            return value

    def set_state(self, name: str, value: str) -> None:
        with self._write() as conn:
            upsert(conn, t.app_state, ("name",), [{"name": name, "value": value, "updated_at": utcnow()}],
                   ("value", "updated_at"))

    def hit(self, key: str, now: float, window: float, limit: int) -> bool:
        """Record an attempt under ``key``; False when ``limit`` attempts in ``window`` s are exceeded."""
        with self._write() as conn:
            lock_name(conn, "rate_events:" + key)  # count-then-insert: one process per key at a time
            conn.execute(delete(t.rate_events).where(t.rate_events.c.at < now - 86400 * 2))
            n = conn.execute(select(func.count()).select_from(t.rate_events).where(
                t.rate_events.c.key == key, t.rate_events.c.at >= now - window)).scalar_one()
            if n >= limit:
                return False
            conn.execute(insert(t.rate_events).values(key=key, at=now))
            return True
