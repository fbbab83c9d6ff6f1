"""`papertrend serve` says so when mail links (base_url) point at another port than the one served."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from web_helpers import free_port


def _serve(database_url: str, port: int, base_url: str | None) -> tuple[str, int]:
    env = dict(os.environ, PAPERTREND_DATABASE_URL=database_url, PAPERTREND_PORT=str(port))
    env.pop("PAPERTREND_BASE_URL", None)
    if base_url:
        env["PAPERTREND_BASE_URL"] = base_url
    subprocess.run([sys.executable, "-m", "papertrend.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "papertrend.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, status = time.monotonic() + 60, 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    return err, status


def test_serve_warns_when_base_url_is_another_port(database_url: str) -> None:
    port = free_port()
    err, status = _serve(database_url, port, None)   # base_url defaults to port 8000
    assert status == 200
    assert "base_url is http://127.0.0.1:8000" in err and f"listens on http://127.0.0.1:{port}" in err


def test_serve_is_quiet_when_base_url_matches(database_url: str) -> None:
    port = free_port()
    err, status = _serve(database_url, port, f"http://127.0.0.1:{port}")
    assert status == 200 and "base_url" not in err
