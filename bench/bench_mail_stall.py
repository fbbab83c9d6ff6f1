"""/healthz while the mail server never answers: the web process (uvicorn, one worker) with a
subscription's confirmation queued and an SMTP server on loopback that accepts connections and
never greets, so the background sender hangs for ``smtp_timeout``. Measures /healthz requests/s and
p50 / p99 at 1 and 8 clients, against the same server with no SMTP server set (the local outbox)
in the same run. Before (async handlers that sent mail in the request), the subscribe POST took the
whole SMTP timeout and every request behind it waited.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from common import ROOT, describe_machine, free_port, print_table
from loadgen import load

from papertrend.config import load_settings
from papertrend.store import open_store
from papertrend.web.app import create_app

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
sys.path.insert(0, str(ROOT / "tests"))
from smtp_server import StalledServer  # noqa: E402 - the tests' own misbehaving server


def _serve(settings_kw: dict[str, object], db: Path) -> tuple[int, object, threading.Thread]:
    import uvicorn

    settings = load_settings(database_url=f"sqlite:///{db}", **settings_kw)
    port = int(str(settings_kw["port"]))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, open_store(settings)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return port, server, thread


def _subscribe(port: int) -> float:
    """Subscribe as a browser would (page, CSRF token, POST); the POST's seconds."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    page = opener.open(f"http://127.0.0.1:{port}/").read().decode()
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    body = urllib.parse.urlencode({"email": "reader@example.org", "frequency": "daily", "csrf": token}).encode()
    t0 = time.perf_counter()
    opener.open(f"http://127.0.0.1:{port}/subscribe", data=body).read()
    return time.perf_counter() - t0


def main() -> None:
    print(describe_machine())
    rows = []
    with tempfile.TemporaryDirectory() as tmp, StalledServer() as stalled:
        for name, extra in (("no SMTP server (local outbox)", {}),
                            ("SMTP server that never answers", {"smtp_host": "127.0.0.1", "smtp_port": stalled.port,
                                                                "smtp_timeout": 120})):
            port = free_port()
            _, server, thread = _serve({"port": port, **extra}, Path(tmp) / f"{len(rows)}.db")
            post = _subscribe(port)
            if extra:  # wait until the sender is stuck on the server before measuring
                deadline = time.monotonic() + 10
                while not stalled.accepted and time.monotonic() < deadline:
                    time.sleep(0.02)
            for clients in (1, 8):
                r = load("127.0.0.1", port, "/healthz", clients, SECONDS)
                rows.append([name, f"{post * 1000:.1f}", clients, f"{r.rps:,.0f}", f"{r.p50:.2f}", f"{r.pct(0.99):.2f}",
                             r.errors])
            server.should_exit = True  # type: ignore[attr-defined]
            thread.join(5)
    print_table(f"/healthz while the mail server stalls ({SECONDS:.0f} s per row, uvicorn, 1 worker)",
                ["mail", "subscribe POST ms", "clients", "req/s", "p50 ms", "p99 ms", "non-200"], rows)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
