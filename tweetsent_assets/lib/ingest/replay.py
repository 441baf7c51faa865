"""Replay labeled tweets into an object store as paced JSON-lines objects, simulating a live feed."""
from __future__ import annotations

import json
import math
import secrets
import time
from datetime import datetime, timezone
from itertools import islice
from typing import Callable, Iterable

from .object_store import ObjectStore

REPLAY_FIELDS = ("id", "date", "user", "text", "sentiment")


def new_run_id(now: datetime | None = None) -> str:
    """`YYYYmmddTHHMMSSZ-<6 hex>`: sortable by start time, and two replays never share one."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def utc_iso(moment: datetime) -> str:
    """ISO-8601 UTC with a `Z`, to the second: the form used for filled-in replay dates."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_object(records: Iterable[dict], fill_date: str | None = None) -> bytes:
    """UTF-8 JSON lines, one compact object per record with exactly REPLAY_FIELDS.

    Records without a date get `fill_date`, so undated sources (TweetEval) still fall into time windows.
    """
    lines = []
    for record in records:
        row = {name: record.get(name) for name in REPLAY_FIELDS}
        if row["date"] is None and fill_date is not None:
            row["date"] = fill_date
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(lines).encode("utf-8")


def replay(records: Iterable[dict], store: ObjectStore, *, tweets_per_object: int,
           objects_per_second: float | None, max_objects: int | None = None,
           key_prefix: str = "replay", run_id: str | None = None,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic,
           now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
           on_object: Callable[[str, int], None] | None = None) -> list[str]:
    """Write `records` in chunks of `tweets_per_object` as `{key_prefix}/{run_id}-{seq:06d}.jsonl`.

    Object n is due at `start + n / objects_per_second` (an absolute schedule, so slow puts do not
    add up to drift); None or 0 writes as fast as possible. Stops after `max_objects` objects or
    when records run out, reading no more records than it writes. `on_object(key, n_tweets)` is
    called after each put. Returns the keys written, in order.
    """
    _validate(tweets_per_object, objects_per_second, max_objects)
    run_id = run_id or new_run_id(now())
    prefix = key_prefix.strip("/")
    interval = 1.0 / objects_per_second if objects_per_second else 0.0
    iterator = iter(records)
    keys: list[str] = []
    start = clock()
    while max_objects is None or len(keys) < max_objects:
        chunk = list(islice(iterator, tweets_per_object))
        if not chunk:
            break
        if interval:
            wait = start + len(keys) * interval - clock()
            if wait > 0:
                sleep(wait)
        key = f"{prefix}/{run_id}-{len(keys):06d}.jsonl" if prefix else f"{run_id}-{len(keys):06d}.jsonl"
        store.put(key, encode_object(chunk, fill_date=utc_iso(now())))
        keys.append(key)
        if on_object is not None:
            on_object(key, len(chunk))
    return keys


def _validate(tweets_per_object: int, objects_per_second: float | None, max_objects: int | None) -> None:
    if isinstance(tweets_per_object, bool) or not isinstance(tweets_per_object, int) or tweets_per_object < 1:
        raise ValueError(f"tweets_per_object must be a whole number of at least 1, got {tweets_per_object!r}")
    if objects_per_second is not None and (
            not math.isfinite(objects_per_second) or objects_per_second < 0):
        raise ValueError(f"objects_per_second must be a finite number >= 0, got {objects_per_second!r}")
    if max_objects is not None and (isinstance(max_objects, bool) or not isinstance(max_objects, int)
                                    or max_objects < 0):
        raise ValueError(f"max_objects must be a whole number >= 0, got {max_objects!r}")
