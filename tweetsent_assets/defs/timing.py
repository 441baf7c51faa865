"""Wall-clock duration for materialization metadata."""
from __future__ import annotations

import time
from contextlib import contextmanager


@contextmanager
def stopwatch():
    """Yields a dict whose `seconds` is filled in when the block ends."""
    result = {"seconds": 0.0}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = round(time.perf_counter() - start, 3)


class Laps:
    """Seconds per named step of a materialization, each measured from the end of the previous one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 3)
        self._last = now
