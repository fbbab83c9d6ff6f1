"""GitHub's REST API, for star counts: ``GET /repos/{owner}/{repo}``.

A polite client: conditional requests (ETag / If-None-Match, which GitHub does not count
against the rate limit), an optional token, and it honours ``X-RateLimit-Remaining`` /
``X-RateLimit-Reset`` and ``Retry-After``. It backs off on 403 / 429 / 5xx and timeouts, and
reports a repository that is gone (404) instead of failing. ``sleep`` and ``clock`` are injected
so that tests run against a real local server without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ..config import Settings
from ..errors import RemoteError


class RateLimited(RemoteError):
    """GitHub asks us to wait longer than this run may: stop, and resume later."""

    def __init__(self, message: str, resume_at: float) -> None:
        super().__init__(message)
        self.resume_at = resume_at


@dataclass
class RepoAnswer:
    repo: str
    status: str               # ok, not_modified, gone, error
    stars: int | None = None
    etag: str | None = None
    error: str | None = None


def user_agent(settings: Settings) -> str:
    contact = f"; {settings.contact_email}" if settings.contact_email else ""
    return f"papertrend/0.1 (+{settings.base_url}{contact})"


class GitHubClient:
    def __init__(self, settings: Settings, client: httpx.Client | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 max_wait: float = 900.0, retries: int = 3, timeout: float = 10.0) -> None:
        self.base = settings.github_api_url.rstrip("/")
        headers = {"Accept": "application/vnd.github+json", "User-Agent": user_agent(settings),
                   "X-GitHub-Api-Version": "2022-11-28"}
        if settings.github_token:
            headers["Authorization"] = f"Bearer {settings.github_token}"
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self.client.headers.update(headers)
        self.sleep, self.clock = sleep, clock
        self.max_wait, self.retries = max_wait, retries
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > self.max_wait:
            raise RateLimited(f"GitHub asks to wait {seconds:.0f} s ({why}); run again later to resume",
                              self.clock() + seconds)
        self.sleep(max(0.0, seconds))

    def _note_limits(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining is not None and remaining.isdigit():
            self.remaining = int(remaining)
        if reset is not None and reset.isdigit():
            self.reset_at = float(reset)

    def repo(self, repo: str, etag: str | None = None) -> RepoAnswer:
        """Current stars of ``owner/name``; ``etag`` from the last answer makes it conditional."""
        if self.remaining == 0 and self.reset_at and self.reset_at > self.clock():
            self._wait(self.reset_at - self.clock() + 1, "rate limit used up")
        headers = {"If-None-Match": etag} if etag else {}
        delay = 1.0
        last_error = ""
        for attempt in range(self.retries + 1):
            try:
                self.requests += 1
                response = self.client.get(f"{self.base}/repos/{repo}", headers=headers)
            except httpx.TimeoutException:
                last_error = "timed out"
            except httpx.TransportError as exc:
                last_error = f"connection failed ({type(exc).__name__})"
            else:
                self._note_limits(response)
                status = response.status_code
                if status == 200:
                    try:
                        stars = int(response.json()["stargazers_count"])
                    except (ValueError, KeyError, TypeError):
                        return RepoAnswer(repo, "error", error="answer without stargazers_count")
                    return RepoAnswer(repo, "ok", stars, response.headers.get("etag"))
                if status == 304:
                    return RepoAnswer(repo, "not_modified", etag=etag)
                if status in (404, 410, 451):
                    return RepoAnswer(repo, "gone", error=f"HTTP {status}")
                retry_after = response.headers.get("retry-after")
                if status in (403, 429) and retry_after and retry_after.isdigit():
                    self._wait(float(retry_after), f"HTTP {status} Retry-After")
                    continue
                if status in (403, 429) and self.remaining == 0 and self.reset_at:
                    self._wait(self.reset_at - self.clock() + 1, "rate limit used up")
                    continue
                if status not in (403, 429) and status < 500:
                    return RepoAnswer(repo, "error", error=f"HTTP {status}")
                last_error = f"HTTP {status}"
            if attempt < self.retries:
                self.sleep(delay)
                delay *= 2
        return RepoAnswer(repo, "error", error=f"{last_error} after {self.retries + 1} attempts")
