"""Silver: one clean row per tweet id, typed and normalised, merged batch by batch."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ..lib.ingest import silver_batch
from ..lib.lake import delta_tables
from .partitions import tweet_batches
from .resources import LakeResource, MicroBatchResource, SparkResource
from .timing import Laps, stopwatch


@asset(
    deps=["bronze_tweets"],
    partitions_def=tweet_batches,
    group_name="silver",
    kinds={"spark", "delta"},
)
def silver_tweets(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                  micro_batching: MicroBatchResource) -> MaterializeResult:
    """Typed timestamp, cleaned text, mentions and hashtags; empty texts dropped; one row per id.

    A tweet id belongs to the first batch that brought it: later copies are counted as
    duplicates. A batch silver has never held appends its new ids when only one micro-batch runs
    at a time; otherwise, and when re-running the owning batch, it MERGEs, whose conflict check
    makes the later of two batches bringing the same new id see it as held. A batch of at most
    micro_batching.driver_rows rows is cleaned on the driver, a larger one on the executors.
    """
    batch_id = context.partition_key
    spark.watch_stages("silver")
    with stopwatch() as timer:
        lap = Laps()
        session = spark.session()
        lap("spark_session")
        bronze_path = lake.path("bronze_tweets")
        bronze = delta_tables.read_batch(session, bronze_path, batch_id)
        batch_rows = delta_tables.batch_rows_in_log(bronze_path, batch_id)
        if batch_rows is None:
            batch_rows = bronze.count()
        lap("read_bronze")
        cleaned = silver_batch.clean(session, bronze, batch_rows, micro_batching.driver_rows)
        ids, deduped = cleaned.ids, cleaned.rows
        kept, empty_texts = len(ids), batch_rows - cleaned.with_text
        lap("clean_and_dedupe")
        path = lake.path("silver_tweets")
        if micro_batching.runs_at_once(context.instance) == 1 and delta_tables.batch_is_new(path, batch_id):
            metrics = delta_tables.append_new_ids(session, deduped, path, batch_id, ids)
        else:
            metrics = delta_tables.merge_by_id(session, deduped, path, update_when="t.batch_id = s.batch_id")
        lap("write")
        state = delta_tables.describe(session, lake.path("silver_tweets"))
        cleaned.release()
        lap("describe")
    inserted = metrics.get("num_inserted_rows", 0)
    updated = metrics.get("num_updated_rows", 0)
    context.log.info(f"batch {batch_id}: {kept} rows to merge, {inserted} inserted, {updated} updated")
    return MaterializeResult(metadata={
        **state.metadata(), **spark.metadata(), "duration_s": timer["seconds"], "batch_rows": batch_rows,
        "dropped_empty_text": empty_texts, "duplicates_in_batch": batch_rows - empty_texts - kept,
        "duplicates_of_earlier_batches": kept - inserted - updated,
        "inserted": inserted, "updated": updated, "cleaned_on": "driver" if cleaned.on_driver else "executors",
        "step_seconds": MetadataValue.json(lap.seconds),
        **spark.stage_metadata(),
    })
