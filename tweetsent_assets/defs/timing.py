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
