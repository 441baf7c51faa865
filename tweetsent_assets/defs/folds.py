"""Which batches a fold job still has to fold: their gold is newer than the fold's last materialization of them."""
from dagster import AssetKey, DagsterEventType

# Batches one fold run takes at most; the rest wait for the next run.
MAX_BATCHES_PER_FOLD = 500


def unfolded_batches(instance, partitions: set[str] | None = None, folded: str = "aggregate_ledger") -> dict[str, int]:
    """Batch -> storage id of its latest gold materialization, for batches whose gold is newer than asset `folded`'s."""
    gold = instance.get_latest_storage_id_by_partition(AssetKey("gold_tweet_sentiment"),
                                                       DagsterEventType.ASSET_MATERIALIZATION, partitions)
    done = instance.get_latest_storage_id_by_partition(AssetKey(folded), DagsterEventType.ASSET_MATERIALIZATION,
                                                       partitions)
    return dict(sorted(((b, i) for b, i in gold.items() if i > done.get(b, -1)), key=lambda item: item[1]))


def changed_meanwhile(instance, batches: list[str], pending: dict[str, int], folded: str) -> list[str]:
    """Batches whose gold was materialized again while they were being folded (their fold is left for next time)."""
    rescored = unfolded_batches(instance, set(batches), folded)
    return [b for b in batches if rescored.get(b, pending[b]) != pending[b]]
