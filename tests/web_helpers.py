"""What tests need to act like a browser on the site: its CSRF token, signing in."""

from __future__ import annotations

import re

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
