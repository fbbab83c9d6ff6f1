"""What ran: import and harvest runs (``ingest_runs``) and the worker's job runs (``job_runs``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from . import schema as t
from .base import SubStore, utcnow


@dataclass
class IngestRun:
    id: int
    kind: str
    detail: str
    started_at: str
    finished_at: str | None
    status: str
    new: int
    updated: int
    unchanged: int
    rejected: int
    errors: str


@dataclass
class JobRun:
    id: int
    job: str
    scheduled_for: str | None
    started_at: str
    finished_at: str | None
    status: str
    counts: dict[str, Any]
    error: str | None
    worker: str | None


class RunStore(SubStore):
    """``store.runs``."""

    def start_ingest(self, kind: str, detail: str) -> int:
        with self._write() as conn:
            return int(conn.execute(t.ingest_runs.insert().values(
                kind=kind, detail=detail[:2000], started_at=utcnow(), status="running")
                .returning(t.ingest_runs.c.id)).scalar_one())

    def finish_ingest(self, run_id: int, status: str, new: int, updated: int, unchanged: int, rejected: int,
                      errors: Iterable[str]) -> None:
        with self._write() as conn:
            conn.execute(update(t.ingest_runs).where(t.ingest_runs.c.id == run_id).values(
                finished_at=utcnow(), status=status, new=new, updated=updated, unchanged=unchanged,
                rejected=rejected, errors="\n".join(list(errors)[:200])))

    def ingest_runs(self, limit: int = 50) -> list[IngestRun]:
        query = select(t.ingest_runs).order_by(t.ingest_runs.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [IngestRun(**dict(r._mapping)) for r in conn.execute(query)]

    def start_job(self, job: str, scheduled_for: str | None, worker: str, started_at: str) -> int:
        with self._write() as conn:
            return int(conn.execute(t.job_runs.insert().values(
                job=job, scheduled_for=scheduled_for, started_at=started_at, status="running", counts="{}",
                worker=worker).returning(t.job_runs.c.id)).scalar_one())

    def finish_job(self, run_id: int, status: str, counts: dict[str, Any], error: str | None,
                   finished_at: str) -> None:
        with self._write() as conn:
            conn.execute(update(t.job_runs).where(t.job_runs.c.id == run_id).values(
                status=status, counts=json.dumps(counts), error=(error or "")[:4000] or None,
                finished_at=finished_at))

    def job_runs(self, job: str | None = None, limit: int = 50) -> list[JobRun]:
        query = select(t.job_runs).order_by(t.job_runs.c.id.desc()).limit(limit)
        if job:
            query = query.where(t.job_runs.c.job == job)
        with self._read() as conn:
            return [JobRun(**{**dict(r._mapping), "counts": json.loads(r.counts or "{}")})
                    for r in conn.execute(query)]

    def forget_earlier_alike(self, job: str, run_id: int, counts: dict[str, Any]) -> None:
        """Drop the earlier successful runs of ``job`` that had exactly these counts."""
        c = t.job_runs.c
        with self._write() as conn:
            conn.execute(delete(t.job_runs).where(c.job == job, c.id < run_id, c.status == "ok",
                                                  c.counts == json.dumps(counts)))

    def last_scheduled(self, job: str) -> str | None:
        """The latest slot a run of ``job`` was recorded for."""
        with self._read() as conn:
            value: str | None = conn.execute(select(func.max(t.job_runs.c.scheduled_for))
                                             .where(t.job_runs.c.job == job)).scalar_one()
            return value
