"""The stream run's listing cursor, kept beside the batch manifests so the next stream run (and the sensor) resume it.

A batch's manifest is written before the cursor that covers its objects, so a run that dies between
the two leaves a manifest the cursor does not know. `resume` folds such manifests back in: it reads
the manifests of the cursor's lookback window, whose keys start with their first object's
last-modified stamp, and returns them with the cursor so their batches can be finished.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta, timezone

from .batching import ListingCursor
from .manifests import MANIFEST_DIR, manifested_objects
from .object_store import ObjectStore

CURSOR_KEY = "stream/cursor.json"
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass
class Resumed:
    """Where a stream run starts: the cursor, and the batches of its window (oldest first) that may be unfinished."""

    cursor: ListingCursor
    recent_batches: list[str]
    note: str


def read_cursor(store: ObjectStore) -> ListingCursor | None:
    """The stored cursor; None if no stream run has stored one."""
    try:
        data, _ = store.get(CURSOR_KEY)
    except FileNotFoundError:
        return None
    return ListingCursor.decode(data.decode())


def write_cursor(store: ObjectStore, cursor: ListingCursor) -> None:
    store.put(CURSOR_KEY, cursor.encode().encode())


def resume(store: ObjectStore, lookback: timedelta) -> Resumed:
    """The stored cursor with the objects of the manifests in its window added; every manifest counts without one."""
    cursor = read_cursor(store)
    if cursor is None:
        seen = manifested_objects(store)
        return Resumed(ListingCursor(None, seen), [], f"no stream cursor: {len(seen)} objects in batch manifests "
                                                       "count as done")
    keys = sorted(info.key for info in store.list()
                  if info.key.startswith(f"{MANIFEST_DIR}/") and info.key.endswith(".json"))
    horizon = (cursor.watermark - lookback).astimezone(timezone.utc).strftime(_STAMP) if cursor.watermark else ""
    recent = [key for key in keys if key[len(MANIFEST_DIR) + 1:] >= horizon]
    seen = dict(cursor.seen or {})
    for key in recent:
        data, _ = store.get(key)
        seen.update({o["key"]: (o["etag"], o["last_modified"]) for o in json.loads(data)["objects"]})
    batches = [key[len(MANIFEST_DIR) + 1:-len(".json")] for key in recent]
    return Resumed(ListingCursor(cursor.watermark, seen), batches,
                   f"stream cursor at {cursor.watermark}, {len(batches)} batches in its window")


# Runs that rewrite batches the stream already wrote (a backfill of hours) hold the stream for one batch at a time:
# their replaceWhere writes conflict with every append that lands meanwhile, the stream's appends never do.
HOLD_DIR = "stream/hold"
# A hold older than this is a run that died holding it: the stream goes on.
HOLD_MAX_AGE_S = 120.0


def hold_stream(store: ObjectStore, owner: str) -> None:
    store.put(f"{HOLD_DIR}/{owner}.json", json.dumps({"at": time.time()}).encode())


def release_stream(store: ObjectStore, owner: str) -> None:
    store.delete(f"{HOLD_DIR}/{owner}.json")


def holders(store: ObjectStore, max_age_s: float = HOLD_MAX_AGE_S) -> list[str]:
    """The owners of fresh holds: the stream starts no batch while there is one."""
    fresh = []
    for info in store.list(f"{HOLD_DIR}/"):
        try:
            data, _ = store.get(info.key)
            if time.time() - json.loads(data)["at"] < max_age_s:
                fresh.append(info.key[len(HOLD_DIR) + 1:-len(".json")])
        except (FileNotFoundError, ValueError, KeyError):
            continue
    return fresh
