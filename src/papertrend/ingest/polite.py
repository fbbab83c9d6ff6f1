"""A polite HTTP client for remote paper sources (arXiv API, OAI-PMH, Hugging Face).

Politeness is shared by the whole deployment through the store: before each request a process
takes the source's slot (one request at a time, the next one ``min_interval`` seconds after the
last one ended), so several workers together still keep arXiv's terms: one request every 3 s,
one connection. Timeouts, dropped connections, 5xx and 503 + Retry-After are retried with
backoff until ``max_wait`` seconds have been spent; then a RemoteError names the request.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..config import Settings
from ..errors import RemoteError
from ..store import Store


def user_agent(settings: Settings) -> str:
    contact = f"; mailto:{settings.contact_email}" if settings.contact_email else ""
    return f"papertrend/0.1 (+{settings.base_url}{contact})"


class PoliteClient:
    def __init__(self, store: Store, settings: Settings, name: str, min_interval: float, *,
                 client: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, max_wait: float = 300.0, timeout: float = 30.0) -> None:
        self.store, self.name, self.min_interval = store, name, min_interval
        self.sleep, self.clock, self.max_wait = sleep, clock, max_wait
        self.timeout = timeout
        # One connection per process; the shared slot makes it one across processes.
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=True,
                                             limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self.client.headers["User-Agent"] = user_agent(settings)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def _acquire(self) -> None:
        hold = self.timeout + self.min_interval
        while True:
            wait = self.store.coordination.take_slot(self.name, self.clock(), hold, self.holder)
            if wait <= 0:
                return
            self.sleep(min(wait, self.min_interval))

    def _release(self) -> None:
        self.store.coordination.release_slot(self.name, self.clock() + self.min_interval)

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """A 200 response, or RemoteError naming the request after bounded retries."""
        request = str(httpx.URL(url, params=params))
        spent, delay, last = 0.0, 2.0, ""
        while True:
            self._acquire()
            started = self.clock()
            try:
                self.requests += 1
                response = self.client.get(url, params=params)
                response.read()
            except httpx.TimeoutException:
                last, retry_after = "timed out", None
            except httpx.TransportError as exc:
                last, retry_after = f"connection failed ({type(exc).__name__})", None
            else:
                if response.status_code == 200:
                    self._release()
                    return response
                retry_after = response.headers.get("retry-after")
                last = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in (408, 429):
                    self._release()
                    raise RemoteError(f"{last}: {response.text[:200]!r}", request)
            finally:
                spent += self.clock() - started
            self._release()
            wait = float(retry_after) if retry_after and retry_after.isdigit() else delay
            if spent + wait > self.max_wait:
                raise RemoteError(f"gave up after {spent + wait:.0f} s: {last}", request)
            self.sleep(wait)
            spent += wait
            delay = min(delay * 2, 120.0)
