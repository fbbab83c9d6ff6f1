"""A small HTTP/1.1 keep-alive load generator on asyncio streams (loopback only).

Lighter than an httpx client, so that on a small machine most CPU goes to the server; it still
shares the machine with the server, so each run reports the CPU it used itself.

Each client walks a list of targets in order, starting at its own offset, so that at any moment
the clients are spread over the whole mix instead of all asking for the same page. Latencies
are kept per target and per route (a label shared by targets of one kind, such as every search).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    path: str                  # path and query, already URL-encoded
    route: str = ""            # label to group by; the path when empty
    accept: str = "text/html"

    @property
    def label(self) -> str:
        return self.route or self.path


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    cpu_seconds: float = 0.0   # CPU this process (the load generator) used during the run
    by_route: dict[str, list[float]] = field(default_factory=dict)
    errors_by_route: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float, route: str | None = None) -> float:
        return percentile(self.by_route.get(route, []) if route is not None else self.latencies_ms, q)

    @property
    def p50(self) -> float:
        return self.pct(0.5)

    def route_rps(self, route: str) -> float:
        return len(self.by_route.get(route, [])) / self.seconds

    @property
    def own_cpu_share(self) -> float:
        """Share of one core the load generator itself used."""
        return self.cpu_seconds / self.seconds


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th quantile by nearest rank (q in [0, 1]); NaN when there are no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    return data[min(len(data) - 1, int(q * len(data)))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, keep = 0, False, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection" and value == b"close":
            keep = False
    if status in (204, 304) or 100 <= status < 200:
        return status, keep
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status, keep


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to every small request.
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _client(host: str, port: int, targets: Sequence[Target], offset: int, deadline: float,
                  result: Result) -> None:
    requests = [f"GET {t.path} HTTP/1.1\r\nHost: {host}\r\nAccept: {t.accept}\r\n\r\n".encode() for t in targets]
    reader, writer = await _connect(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            n = i % len(targets)
            i += 1
            t0 = time.perf_counter()
            writer.write(requests[n])
            status, keep = await _read_response(reader)
            ms = (time.perf_counter() - t0) * 1000
            label = targets[n].label
            result.latencies_ms.append(ms)
            result.by_route.setdefault(label, []).append(ms)
            result.statuses[status] += 1
            if status != 200:
                result.errors += 1
                result.errors_by_route[label] += 1
            result.requests += 1
            if not keep:
                writer.close()
                reader, writer = await _connect(host, port)
    finally:
        writer.close()


async def _run(host: str, port: int, targets: Sequence[Target], clients: int, seconds: float) -> Result:
    result = Result(0, 0.0, [], 0, by_route=defaultdict(list))
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    step = max(1, len(targets) // clients) if clients else 1
    await asyncio.gather(*(_client(host, port, targets, (k * step) % len(targets), deadline, result)
                           for k in range(clients)))
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu0
    result.by_route = dict(result.by_route)
    return result


def load(host: str, port: int, targets: str | Sequence[Target], clients: int, seconds: float) -> Result:
    """Drive ``targets`` (one path, or a list walked in turn) with ``clients`` keep-alive
    connections for ``seconds``; every response is read in full."""
    if isinstance(targets, str):
        targets = [Target(targets)]
    return asyncio.run(_run(host, port, list(targets), clients, seconds))
