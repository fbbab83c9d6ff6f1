"""The worker: runs the configured schedule of jobs, one run of a job at a time across workers.

Every job has a cron expression (UTC). On each tick the worker finds, per job, the latest slot
that has passed; if no run was recorded for that slot, the job runs once for it. A worker that
was down for days therefore catches up with one run, not one per missed slot. A lease in the
store (``job_locks``) keeps two workers from running the same job at once; a lease of a worker
that died expires. Every run is recorded with start, end, status, counts and error.
"""

from __future__ import annotations

import functools
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from .config import Settings
from .errors import ConfigError
from .jobs import JOBS
from .store import Store

JobFunction = Callable[[datetime], dict[str, Any]]


@dataclass
class Job:
    name: str
    cron: str
    run: JobFunction
    lease: float = 3600.0
    quiet: bool = False   # a run that did nothing replaces the previous such run instead of adding one


def validate_cron(name: str, expression: str) -> None:
    if not croniter.is_valid(expression):
        raise ConfigError(f"setting schedule_{name}: {expression!r} is not a cron expression")


class Worker:
    def __init__(self, store: Store, jobs: list[Job], *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep, holder: str | None = None,
                 log: Callable[[str], None] = print) -> None:
        for job in jobs:
            validate_cron(job.name, job.cron)
        self.store, self.jobs = store, jobs
        self.clock, self.sleep, self.log = clock, sleep, log
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"

    def due(self, now: datetime) -> list[tuple[Job, datetime]]:
        """Jobs whose latest passed slot has no recorded run, with that slot."""
        out = []
        for job in self.jobs:
            slot = croniter(job.cron, now).get_prev(datetime)
            last = self.store.runs.last_scheduled(job.name)
            if last is None or last < slot.isoformat():
                out.append((job, slot))
        return out

    def run_job(self, job: Job, slot: datetime | None) -> str:
        """Run ``job`` once (for ``slot``) if no other worker holds it; returns the outcome."""
        now = self.clock()
        if not self.store.coordination.take_job_lock(job.name, self.holder, now.timestamp(), job.lease):
            return "busy"
        try:
            # Another worker may have finished this slot while we waited for the lock.
            last = self.store.runs.last_scheduled(job.name)
            if slot is not None and last is not None and last >= slot.isoformat():
                return "done elsewhere"
            run_id = self.store.runs.start_job(job.name, slot.isoformat() if slot else None, self.holder,
                                              now.isoformat(timespec="seconds"))
            try:
                counts = job.run(now)
            except Exception as exc:  # noqa: BLE001 - the worker records any failure and lives on
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                self.store.runs.finish_job(run_id, "failed", {}, detail, self.clock().isoformat(timespec="seconds"))
                self.log(f"{job.name}: failed: {detail}")
                return "failed"
            self.store.runs.finish_job(run_id, "ok", counts, None, self.clock().isoformat(timespec="seconds"))
            if job.quiet and not any(counts.values()):
                # The mail job runs every minute: 500,000 empty runs a year would bury the others.
                self.store.runs.forget_earlier_alike(job.name, run_id, counts)
            self.log(f"{job.name}: ok {counts}")
            return "ok"
        finally:
            self.store.coordination.release_job_lock(job.name, self.holder)

    def tick(self) -> dict[str, str]:
        """Run what is due now; returns job name -> outcome."""
        return {job.name: self.run_job(job, slot) for job, slot in self.due(self.clock())}

    def seconds_to_next(self) -> float:
        now = self.clock()
        nxt = min(croniter(job.cron, now).get_next(datetime) for job in self.jobs)
        return max(1.0, (nxt - now).total_seconds())

    def run_forever(self, max_ticks: int | None = None) -> None:
        ticks = 0
        while max_ticks is None or ticks < max_ticks:
            self.tick()
            ticks += 1
            self.sleep(min(self.seconds_to_next(), 60.0))


def default_jobs(store: Store, settings: Settings) -> list[Job]:
    """The schedule from settings: every job in ``jobs.JOBS`` with its ``schedule_<name>`` cron."""
    return [Job(spec.name, spec.cron(settings), functools.partial(spec.run, store, settings), quiet=spec.quiet)
            for spec in JOBS]
