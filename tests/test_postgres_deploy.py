"""The deployment files name only real settings, and the test run's PostgreSQL servers never
outlive it: one left by a killed run is stopped and removed by the next."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conftest import ROOT
from papertrend.config import SETTINGS
from pg_server import OWNER, PREFIX, _alive, _postmaster_pid, clean_stale

DEPLOY_FILES = [ROOT / "compose.yaml", ROOT / "deploy" / "papertrend.env.example",
                *sorted((ROOT / "deploy" / "systemd").glob("*.service"))]


def test_deployment_files_use_real_settings() -> None:
    names = {s.name.upper() for s in SETTINGS}
    for path in DEPLOY_FILES:
        used = set(re.findall(r"PAPERTREND_([A-Z_]+)", path.read_text()))
        assert used <= names, f"{path.name} sets unknown settings: {sorted(used - names)}"
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "migrate", "web", "worker"} <= set(services)
    assert services["web"]["environment"]["PAPERTREND_WEB_SENDS_MAIL"] == "false"
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["db", "upgrade"]


def test_a_server_left_by_a_killed_run_is_stopped_and_removed(tmp_path: Path) -> None:
    # A Python process that starts a server and is then SIGKILLed, as a killed pytest would be.
    code = ("import sys, time; sys.path.insert(0, %r); from pg_server import PgServer; s = PgServer(); "
            "print(s.folder, flush=True); time.sleep(600)" % str(ROOT / "tests"))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    try:
        folder = Path(proc.stdout.readline().strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert folder.name.startswith(PREFIX) and (folder / OWNER).read_text() == str(proc.pid)
    postmaster = _postmaster_pid(folder / "data")
    assert postmaster is not None and _alive(postmaster)  # the server outlived its Python process

    assert clean_stale(tmp_path) == [folder]
    deadline = time.monotonic() + 10
    while _alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(postmaster) and not folder.exists()
