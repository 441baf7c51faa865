"""Sensor bookkeeping: which listed objects are new, and how they group into micro-batches."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from .object_store import ObjectInfo


@dataclass(frozen=True)
class Batch:
    """A micro-batch of objects; its key is derived from its contents, so re-planning is stable."""

    key: str
    objects: tuple[ObjectInfo, ...]

    def manifest(self) -> dict:
        return {"batch_id": self.key, "objects": [
            {"key": o.key, "etag": o.etag, "last_modified": o.last_modified.isoformat(), "size": o.size}
            for o in self.objects]}


@dataclass
class ListingCursor:
    """High-water mark of last-modified plus the (key, etag) pairs seen within the lookback window.

    Objects can show up in a listing with a last-modified older than ones already seen (slow
    multi-part uploads, out-of-order keys); any object newer than `watermark - lookback` that is
    not in `seen` counts as new, so those are still picked up exactly once.
    """

    watermark: datetime | None = None
    seen: dict[str, tuple[str, str]] | None = None

    @classmethod
    def decode(cls, text: str | None) -> "ListingCursor":
        if not text:
            return cls(None, {})
        state = json.loads(text)
        mark = state.get("watermark")
        return cls(datetime.fromisoformat(mark) if mark else None,
                   {k: tuple(v) for k, v in state.get("seen", {}).items()})

    def encode(self) -> str:
        return json.dumps({"watermark": self.watermark.isoformat() if self.watermark else None,
                           "seen": self.seen or {}}, sort_keys=True)


def find_new_objects(listing: Iterable[ObjectInfo], cursor: ListingCursor,
                     lookback: timedelta) -> list[ObjectInfo]:
    """Objects not yet handed out, oldest first (by last-modified, then key)."""
    seen = cursor.seen or {}
    horizon = cursor.watermark - lookback if cursor.watermark else None
    new = [o for o in listing
           if (horizon is None or o.last_modified > horizon) and seen.get(o.key, (None,))[0] != o.etag]
    return sorted(new, key=lambda o: (o.last_modified, o.key))


def advance_cursor(cursor: ListingCursor, handed_out: list[ObjectInfo],
                   lookback: timedelta) -> ListingCursor:
    """The cursor after `handed_out` were batched, with entries older than the lookback pruned."""
    if not handed_out:
        return cursor
    marks = [o.last_modified for o in handed_out] + ([cursor.watermark] if cursor.watermark else [])
    watermark = max(marks)
    seen = dict(cursor.seen or {})
    seen.update({o.key: (o.etag, o.last_modified.isoformat()) for o in handed_out})
    horizon = watermark - lookback
    seen = {k: v for k, v in seen.items() if datetime.fromisoformat(v[1]) > horizon}
    return ListingCursor(watermark, seen)


def plan_batches(new_objects: list[ObjectInfo], max_objects: int, max_bytes: int | None = None,
                 limit: int | None = None) -> list[Batch]:
    """Consecutive groups of at most `max_objects` objects and `max_bytes` bytes, keyed `<first last-modified>-<hash>`.

    A group always takes at least one object, so an object larger than `max_bytes` is a batch of
    its own. With `limit`, only the first `limit` groups are planned; the other objects wait.
    """
    if max_objects < 1:
        raise ValueError(f"max_objects_per_batch must be at least 1, got {max_objects}")
    if max_bytes is not None and max_bytes < 1:
        raise ValueError(f"max_batch_bytes must be at least 1, got {max_bytes}")
    groups: list[list[ObjectInfo]] = []
    size = 0
    for obj in new_objects:
        full = groups and (len(groups[-1]) >= max_objects or (max_bytes is not None and size + obj.size > max_bytes))
        if not groups or full:
            if limit is not None and len(groups) >= limit:
                break
            groups.append([])
            size = 0
        groups[-1].append(obj)
        size += obj.size
    return [_batch(tuple(group)) for group in groups]


def _batch(group: tuple[ObjectInfo, ...]) -> Batch:
    digest = hashlib.sha1("\n".join(f"{o.key}\t{o.etag}" for o in group).encode()).hexdigest()[:10]
    stamp = group[0].last_modified.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Batch(key=f"{stamp}-{digest}", objects=group)
