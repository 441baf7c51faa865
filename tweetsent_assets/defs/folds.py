"""Which batches a fold job still has to fold, found by hour: Dagster says which hours changed, the tables say which
batches of those hours are new.

An hour is pending when gold's latest materialization of it is newer than the folded asset's. In a
pending hour, every gold batch is folded again when a run rewrote the whole hour (gold's metadata
says `whole_hour`: a backfill or re-score), else only the batches the folded table holds nothing of yet.
"""
from dataclasses import dataclass

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType

from ..lib.ingest.hours import batch_prefix
from ..lib.lake.delta_tables import batches_with_prefix

GOLD = AssetKey("gold_tweet_sentiment")
# Batches one fold run takes at most; the rest wait for the next run.
MAX_BATCHES_PER_FOLD = 500


@dataclass
class Pending:
    """Hour -> its batches to fold; hour -> gold's latest storage id when they were listed."""

    batches: dict[str, list[str]]
    gold_ids: dict[str, int]

    def first(self, limit: int = MAX_BATCHES_PER_FOLD) -> dict[str, list[str]]:
        """Whole hours, oldest first, up to `limit` batches (at least one hour)."""
        taken: dict[str, list[str]] = {}
        for hour, batches in self.batches.items():
            if taken and sum(map(len, taken.values())) + len(batches) > limit:
                break
            taken[hour] = batches
        return taken


def pending_hours(instance, folded: str) -> dict[str, int]:
    """Hour -> gold's latest storage id, for hours whose gold is newer than asset `folded`'s materialization."""
    gold = instance.get_latest_storage_id_by_partition(GOLD, DagsterEventType.ASSET_MATERIALIZATION)
    done = instance.get_latest_storage_id_by_partition(AssetKey(folded), DagsterEventType.ASSET_MATERIALIZATION)
    return dict(sorted((h, i) for h, i in gold.items() if i > done.get(h, -1)))


def rewritten_since(instance, hour: str, after: int) -> bool:
    """Whether a gold materialization of `hour` after storage id `after` rewrote every batch of the hour."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=GOLD, asset_partitions=[hour], after_storage_id=after), limit=1000).records
    return any(bool(getattr(r.asset_materialization.metadata.get("whole_hour"), "value", False)) for r in records)


def unfolded_batches(instance, path, folded: str, folded_table: str) -> Pending:
    """The batches to fold, by hour: all of gold's in a rewritten hour, else those `folded_table` does not hold."""
    hours = pending_hours(instance, folded)
    done = instance.get_latest_storage_id_by_partition(AssetKey(folded), DagsterEventType.ASSET_MATERIALIZATION,
                                                       set(hours))
    batches = {}
    for hour in hours:
        in_gold = batches_with_prefix(path("gold_tweet_sentiment"), batch_prefix(hour)) or []
        if not rewritten_since(instance, hour, done.get(hour, -1)):
            held = set(batches_with_prefix(path(folded_table), batch_prefix(hour)) or [])
            in_gold = [b for b in in_gold if b not in held]
        batches[hour] = in_gold
    return Pending(batches, hours)


def changed_meanwhile(instance, hours: list[str], pending: Pending) -> list[str]:
    """Hours whose gold was materialized again while they were being folded (recorded at the next fold)."""
    latest = instance.get_latest_storage_id_by_partition(GOLD, DagsterEventType.ASSET_MATERIALIZATION, set(hours))
    return [h for h in hours if latest.get(h, -1) != pending.gold_ids[h]]
