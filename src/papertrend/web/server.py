"""Serving with uvicorn, the production server. Settings reach worker processes as JSON."""

from __future__ import annotations

import json
import os

import uvicorn
from starlette.applications import Starlette

from ..config import Settings, load_settings
from .app import create_app

_ENV = "PAPERTREND_SERVE_SETTINGS"


def factory() -> Starlette:
    """Entry point of each worker process when several are started."""
    values = json.loads(os.environ[_ENV])
    return create_app(load_settings(**values))


def run(settings: Settings) -> None:
    print(f"papertrend serving {settings.database_url} on http://{settings.host}:{settings.port}/", flush=True)
    if settings.workers > 1:
        os.environ[_ENV] = json.dumps({k: str(v) for k, v in vars(settings).items()})
        uvicorn.run("papertrend.web.server:factory", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level="warning")
    else:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
