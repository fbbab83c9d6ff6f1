"""Long id lists split for ``IN (...)``: every store module chunks the same way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

SQLITE_MAX_VARS = 900  # stay well under SQLite's bound-parameter limit when chunking IN (...)


def chunks(items: Sequence[Any], size: int = SQLITE_MAX_VARS) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])
