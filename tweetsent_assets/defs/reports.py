"""Hour reports: many micro-batches' materialization metadata summed into one materialization per asset and hour.

The stream, and a run of an hour partition, write batch after batch; Dagster records each layer's
materialization of the hour at most once per report interval and when the hour ends, so the event
log grows with hours, not batches. Per-batch detail stays in the run's log and in the tables.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from dagster import AssetMaterialization, MetadataValue

# Per-batch counts that add up over the batches of a report.
SUMMED = frozenset({
    "batch_rows", "batch_objects", "superseded_objects", "already_in_other_batches", "dropped_empty_text",
    "duplicates_in_batch", "duplicates_of_earlier_batches", "inserted", "updated", "cache_hits", "texts_scored",
})
# JSON counts by name that add up key by key (labels, quarantine reasons).
SUMMED_BY_KEY = frozenset({"labels", "reasons"})


def _value(entry):
    return entry.value if isinstance(entry, MetadataValue) else entry


@dataclass
class LayerReport:
    """One asset's batches since its last report: the last batch's metadata, with counts summed and seconds ranked."""

    batches: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    sums: dict = field(default_factory=dict)
    by_key: dict = field(default_factory=dict)
    last: dict = field(default_factory=dict)

    def add(self, batch_id: str, metadata: dict) -> None:
        self.batches.append(batch_id)
        self.last = metadata
        if "duration_s" in metadata:
            self.seconds.append(float(_value(metadata["duration_s"])))
        for name, entry in metadata.items():
            value = _value(entry)
            if name in SUMMED and isinstance(value, (int, float)):
                self.sums[name] = self.sums.get(name, 0) + value
            elif name in SUMMED_BY_KEY and isinstance(value, dict):
                counts = self.by_key.setdefault(name, {})
                for key, count in value.items():
                    counts[key] = counts.get(key, 0) + count

    def metadata(self) -> dict:
        ranked = sorted(self.seconds)
        summary = {**self.last, **self.sums, **{k: MetadataValue.json(v) for k, v in self.by_key.items()},
                   "batches": len(self.batches), "first_batch": self.batches[0], "last_batch": self.batches[-1]}
        if ranked:
            summary.update(batch_seconds_p50=round(statistics.median(ranked), 3),
                           batch_seconds_p95=round(ranked[min(len(ranked) - 1, int(0.95 * len(ranked)))], 3))
        return summary


class HourReports:
    """Pending reports per (hour, asset); `add` and `due` return the materializations to record now.

    Within an hour they come in the order the layers were written (bronze before silver before gold),
    so gold's automation condition never sees silver newer than gold.
    """

    def __init__(self, every_s: float, clock=time.monotonic):
        self.every_s, self.clock = every_s, clock
        self.pending: dict[tuple[str, str], LayerReport] = {}
        self.last_flush = clock()

    def add(self, hour: str, batch_id: str, written: dict[str, dict]) -> list[AssetMaterialization]:
        """Adds one batch's metadata per asset; reports earlier hours at once, and everything once the interval passed."""
        ended = [h for h in self.hours() if h < hour]
        for asset, metadata in written.items():
            self.pending.setdefault((hour, asset), LayerReport()).add(batch_id, metadata)
        return self.flush() if ended or self.clock() - self.last_flush >= self.every_s else []

    def due(self, current_hour: str) -> list[AssetMaterialization]:
        """While idle: everything once the interval passed or a pending hour has ended."""
        if self.pending and (self.clock() - self.last_flush >= self.every_s
                             or any(h < current_hour for h in self.hours())):
            return self.flush()
        return []

    def hours(self) -> list[str]:
        return sorted({hour for hour, _ in self.pending})

    def flush(self) -> list[AssetMaterialization]:
        ordered = sorted(self.pending.items(), key=lambda item: item[0][0])
        events = [AssetMaterialization(asset_key=asset, partition=hour, metadata=report.metadata())
                  for (hour, asset), report in ordered]
        self.pending.clear()
        self.last_flush = self.clock()
        return events
