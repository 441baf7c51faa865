"""Which hour partition a micro-batch belongs to: the UTC hour of the stamp its key starts with.

A batch's key is `<first object's last-modified, %Y%m%dT%H%M%SZ>-<hash>` and never changes when
the batch is planned again, so its hour never changes either: a batch belongs to exactly one hour,
however long it runs. Hour partition keys are Dagster's hourly keys, `YYYY-MM-DD-HH:00`.
"""
from __future__ import annotations

from datetime import datetime, timezone

HOUR_KEY_FORMAT = "%Y-%m-%d-%H:%M"
_STAMP = "%Y%m%dT%H%M%SZ"


class BadBatchKey(ValueError):
    """A batch key (or manifest name) whose hour cannot be read."""


def batch_time(batch_id: str) -> datetime:
    """The UTC time stamped at the start of the batch key."""
    try:
        return datetime.strptime(batch_id.split("-", 1)[0], _STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        raise BadBatchKey(f"batch {batch_id!r} does not start with a UTC stamp like 20261207T193000Z, "
                          "so its hour cannot be read") from None


def hour_of(batch_id: str) -> str:
    """The hour partition key of a batch, e.g. '2026-12-07-19:00'."""
    return hour_key(batch_time(batch_id))


def hour_key(moment: datetime) -> str:
    """The hour partition key of a UTC time."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d-%H:00")


def hour_start(hour: str) -> datetime:
    """The UTC start of an hour partition key."""
    try:
        start = datetime.strptime(hour, HOUR_KEY_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"{hour!r} is not an hour partition key like 2026-12-07-19:00") from None
    if start.minute:
        raise ValueError(f"{hour!r} is not an hour partition key like 2026-12-07-19:00")
    return start


def batch_prefix(hour: str) -> str:
    """The prefix every batch key of the hour starts with, e.g. '20261207T19'."""
    return hour_start(hour).strftime("%Y%m%dT%H")


def in_hour(batch_id: str, hour: str) -> bool:
    return batch_id.startswith(batch_prefix(hour))


def by_hour(batch_ids) -> dict[str, list[str]]:
    """Batch ids grouped by hour (hours in order, batches in the given order)."""
    hours: dict[str, list[str]] = {}
    for batch_id in batch_ids:
        hours.setdefault(hour_of(batch_id), []).append(batch_id)
    return dict(sorted(hours.items()))
