"""What tests need to act like a browser on the site: a real server, its CSRF token, signing in."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

import httpx

from starlette.testclient import TestClient

from papertrend.accounts.signin import add_user, new_link
from papertrend.models import User


def csrf(client: TestClient | httpx.Client, path: str = "/signin") -> str:
    """This browser's CSRF token, as a page it loaded carries it (the cookie comes with it)."""
    page = client.get(path)
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(client: TestClient, email: str, role: str = "reader") -> User:
    """Sign ``client`` in as ``email`` through a one-time link, as a reader would."""
    store, settings = client.app.state.store, client.app.state.settings
    user = add_user(store, email, role)
    token = new_link(store, settings, user.email).split("token=")[1]
    r = client.post("/signin/link", data={"token": token, "csrf": csrf(client), "next": "/account"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(app: Any, port: int | None = None, guard: float = 60.0) -> Iterator[str]:
    """``app`` behind a real uvicorn server on loopback, in a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + guard
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(guard)
