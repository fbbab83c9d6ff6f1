"""A real HTTP server on loopback that answers like GitHub's REST API for GET /repos/{owner}/{repo}.

The response shapes are GitHub's (a subset of the repository object, its rate-limit headers,
ETag / 304). Each repository name picks a behaviour, so one server covers every fault.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeGitHub:
    def __init__(self) -> None:
        self.stars: dict[str, int] = {}
        self.log: list[dict[str, Any]] = []
        self.remaining = 5000
        self.reset_at = int(time.time()) + 3600
        self.seen: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeGitHub":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any] | None,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("X-RateLimit-Limit", "5000")
        h.send_header("X-RateLimit-Remaining", str(self.remaining))
        h.send_header("X-RateLimit-Reset", str(self.reset_at))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        self.log.append({"path": path, "if_none_match": h.headers.get("If-None-Match"),
                         "auth": h.headers.get("Authorization"), "agent": h.headers.get("User-Agent"),
                         "at": time.time()})
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "repos":
            return self._send(h, 404, {"message": "Not Found"})
        repo = f"{parts[1]}/{parts[2]}".lower()
        count = self.seen[repo] = self.seen.get(repo, 0) + 1
        if self.remaining <= 0:
            return self._send(h, 403, {"message": "API rate limit exceeded"})
        self.remaining -= 1
        name = parts[2].lower()
        if name.startswith("gone"):
            return self._send(h, 404, {"message": "Not Found"})
        if name.startswith("limited") and count == 1:
            return self._send(h, 429, {"message": "secondary rate limit"}, {"Retry-After": "7"})
        if name.startswith("flaky") and count == 1:
            return self._send(h, 503, {"message": "unavailable"})
        if name.startswith("slow") and count == 1:
            time.sleep(1.0)
        stars = self.stars.get(repo, 10)
        etag = f'W/"{repo}-{stars}"'
        if h.headers.get("If-None-Match") == etag:
            self.remaining += 1  # conditional requests answered 304 do not count against the limit
            return self._send(h, 304, None, {"ETag": etag})
        return self._send(h, 200, {"id": hash(repo) & 0xFFFF, "full_name": f"{parts[1]}/{parts[2]}",
                                   "stargazers_count": stars, "forks_count": 1, "open_issues_count": 0},
                          {"ETag": etag})
