"""A small HTTP/1.1 keep-alive load generator on asyncio streams (loopback only).

Lighter than an httpx client, so that on a 2-core machine most CPU goes to the server.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from dataclasses import dataclass


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


async def _client(host: str, port: int, path: str, deadline: float, lat: list[float], errs: list[int]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to every small request.
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n".encode()
    done = 0
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            lat.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                errs.append(status)
            done += 1
    finally:
        writer.close()
    return done


async def _run(host: str, port: int, path: str, clients: int, seconds: float) -> Result:
    lat: list[float] = []
    errs: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    counts = await asyncio.gather(*(_client(host, port, path, deadline, lat, errs) for _ in range(clients)))
    return Result(sum(counts), time.perf_counter() - start, lat, len(errs))


def load(host: str, port: int, path: str, clients: int, seconds: float) -> Result:
    return asyncio.run(_run(host, port, path, clients, seconds))
