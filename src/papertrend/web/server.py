"""Serving with uvicorn, the production server. Settings reach worker processes as JSON."""

from __future__ import annotations

import json
import os
import socket

import uvicorn
from starlette.applications import Starlette

from ..config import Settings, load_settings

_ENV = "PAPERTREND_SERVE_SETTINGS"
# One BLAS / OpenMP thread per web process: requests already run in parallel (threads, workers),
# and a multi-threaded BLAS is slower here, not faster. The vector search's 8,093 x 384 product
# on 2 cores: 0.44 ms with one OpenBLAS thread; with two, 1.1 ms when the machine was quiet and
# 7.7 ms when other work kept the second core busy.
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def factory() -> Starlette:
    """Entry point of each worker process when several are started."""
    from .app import create_app

    values = json.loads(os.environ[_ENV])
    return create_app(load_settings(**values))


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY, which accepted connections inherit on Linux.

    Without it a response written in two parts (head, then body) waits for the client's
    delayed ACK: about 40 ms added to every small page.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(settings: Settings) -> None:
    # Read when numpy loads its BLAS: so before the app (which imports numpy) is imported, here
    # and in the worker processes, which inherit them. An operator's own values win.
    for name in _ONE_THREAD:
        os.environ.setdefault(name, "1")
    from .app import create_app

    sock = listening_socket(settings.host, settings.port)
    print(f"papertrend serving {settings.database_url} on http://{settings.host}:{settings.port}/", flush=True)
    if settings.workers > 1:
        os.environ[_ENV] = json.dumps({k: str(v) for k, v in vars(settings).items()})
        uvicorn.run("papertrend.web.server:factory", factory=True, fd=sock.fileno(), workers=settings.workers,
                    log_level="warning")
    else:
        uvicorn.run(create_app(settings), fd=sock.fileno(), log_level="warning")
