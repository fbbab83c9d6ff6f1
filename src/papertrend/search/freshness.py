"""When an in-memory index last asked the store what changed: a search asks at most every so
often, since each look is a store round trip and most find nothing new."""

from __future__ import annotations

import math
import time


class LastLook:
    def __init__(self) -> None:
        self._at = -math.inf

    def recent(self, within: float) -> bool:
        """True when the last look was less than ``within`` seconds ago (never, for 0)."""
        return bool(within) and time.monotonic() - self._at < within

    def now(self) -> None:
        self._at = time.monotonic()
