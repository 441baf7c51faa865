"""Maps the batch partitions of earlier versions (one dynamic partition per micro-batch) to hour partitions.

The lake needs nothing: every table keeps its `batch_id` column, and a batch's hour comes from its key.
In Dagster's instance, each layer's materializations of old batch partitions become one reported
materialization per hour, so the UI, the follow-up sensors and the folds see the hours as done. The
old partitions stay as history. Running it again reports nothing new.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dagster import AssetKey, AssetMaterialization, DagsterInstance

from ..lib.ingest.hours import BadBatchKey, by_hour
from .partitions import tweet_batches

# Every asset partitioned by hour, in the order the layers are written (gold before the folds that follow it).
HOURLY_ASSETS = ("bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment", "aggregate_ledger",
                 "mention_sentiment", "sentiment_trends", "sentiment_spikes", "prediction_drift")


@dataclass
class Migration:
    """What a migration found and reported."""

    batches: int = 0
    hours: int = 0
    reported: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.batches:
            return "no batch partitions to migrate"
        done = sum(self.reported.values())
        line = (f"{self.batches} batch partitions map to {self.hours} hours; reported {done} hour materializations"
                + (f" ({', '.join(f'{k} {v}' for k, v in self.reported.items() if v)})" if done else
                   " (every hour was already migrated)"))
        return line + (f"; {len(self.skipped)} batches without a readable hour left as they are: "
                       f"{', '.join(self.skipped[:5])}" if self.skipped else "")


def migrate_batch_partitions(instance: DagsterInstance) -> Migration:
    """Report each hour that has materialized batch partitions of an asset, once per asset and hour."""
    batches = instance.get_dynamic_partitions(tweet_batches.name)
    result = Migration(batches=len(batches))
    readable = []
    for batch in batches:
        try:
            by_hour([batch])
            readable.append(batch)
        except BadBatchKey:
            result.skipped.append(batch)
    for asset in HOURLY_ASSETS:
        key = AssetKey(asset)
        materialized = instance.get_materialized_partitions(key)
        hours = by_hour([b for b in readable if b in materialized])
        result.hours = max(result.hours, len(hours))
        result.reported[asset] = 0
        for hour, members in hours.items():
            if hour in materialized:
                continue
            instance.report_runless_asset_event(AssetMaterialization(
                asset_key=key, partition=hour,
                metadata={"migrated_batches": len(members), "first_batch": members[0], "last_batch": members[-1]}))
            result.reported[asset] += 1
    return result
