"""Listing a landing prefix from its last key, so that an idle poll does not grow with the objects already taken.

Producers that write keys in lexical order (the replay writer and the benchmarks do: a UTC stamp
first) make every new object sort after the last one listed, so a poll asks only for the keys after
it (S3's StartAfter; a local folder skips what sorts before). Every `full_every_s` seconds the
whole prefix is listed again, as Auto Loader's incremental listing backfills, so objects whose keys
sort earlier (another producer, a rewrite of an old key) are still taken, later. That interval must
stay under the cursor's lookback, within which an object landed late still counts as new.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

from .object_store import ObjectInfo, ObjectStore


class IncrementalListing:
    """Polls of one prefix: the whole of it at first and every `full_every_s` seconds (0: always), else the
    keys after the last one seen, plus the objects the caller left for later (`keep`)."""

    def __init__(self, store: ObjectStore, full_every_s: float, skip_prefix: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.store, self.full_every_s, self.skip_prefix, self.clock = store, full_every_s, skip_prefix, clock
        self.last_key: str | None = None
        self.last_full: float | None = None
        self.full_listings = 0
        self._kept: dict[str, ObjectInfo] = {}

    def poll(self) -> list[ObjectInfo]:
        """The objects listed now, with those kept from the last poll; in key order."""
        now = self.clock()
        full = self.last_full is None or now - self.last_full >= self.full_every_s
        listed = [o for o in (self.store.list() if full else self.store.list(start_after=self.last_key))
                  if not (self.skip_prefix and o.key.startswith(self.skip_prefix))]
        if full:
            self.last_full, self.full_listings = now, self.full_listings + 1
        if listed:
            self.last_key = max(self.last_key or "", max(o.key for o in listed))
        merged = {**({} if full else self._kept), **{o.key: o for o in listed}}
        return [merged[key] for key in sorted(merged)]

    def keep(self, objects: Iterable[ObjectInfo]) -> None:
        """Objects this poll found but the caller has not taken yet: the next poll returns them again, since an
        incremental listing starts after them."""
        self._kept = {o.key: o for o in objects}

    def describe(self) -> str:
        if not self.full_every_s:
            return f"landing {self.store.url} is listed whole on every poll"
        return (f"landing {self.store.url} is listed from its last key, and whole every "
                f"{self.full_every_s:.0f} s (keys written out of order wait until then)")
