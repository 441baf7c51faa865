"""Silver: one clean row per tweet id, typed and normalised, merged batch by batch."""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ..lib.ingest import silver_batch
from ..lib.lake import delta_tables
from .hour_runs import run_hour
from .partitions import tweet_hours
from .resources import LakeResource, MicroBatchResource, ObjectStoreResource, SparkResource
from .timing import Laps, stopwatch


def write_silver(spark: SparkResource, lake: LakeResource, micro_batching: MicroBatchResource, batch_id: str,
                 sole_writer: bool, log, bronze_rows: pd.DataFrame | None = None) -> tuple[dict, pd.DataFrame | None]:
    """Clean the batch's bronze rows into silver; its materialization metadata, and the rows silver now holds for
    the batch as pandas when they are known without reading them back (an append of rows cleaned on the driver).

    `sole_writer` says no other batch writes silver at the same time, so a new batch may append.
    `bronze_rows`: all of the batch's bronze rows, already on the driver (the stream run's bronze step).
    """
    spark.watch_stages("silver")
    with stopwatch() as timer:
        lap = Laps()
        session = spark.session()
        lap("spark_session")
        bronze_path = lake.path("bronze_tweets")
        if bronze_rows is not None and len(bronze_rows) <= micro_batching.driver_rows:
            batch_rows = len(bronze_rows)
            lap("read_bronze")
            cleaned = silver_batch.from_bronze_rows(session, bronze_rows)
        else:
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
        held = None
        if sole_writer and delta_tables.batch_is_new(path, batch_id):
            metrics = delta_tables.append_new_ids(session, deduped, path, batch_id, ids)
            held = metrics.pop("held_ids")
        else:
            metrics = delta_tables.merge_by_id(session, deduped, path, update_when="t.batch_id = s.batch_id")
        lap("write")
        state = delta_tables.describe(session, lake.path("silver_tweets"))
        cleaned.release()
        lap("describe")
    inserted = metrics.get("num_inserted_rows", 0)
    updated = metrics.get("num_updated_rows", 0)
    log.info(f"batch {batch_id}: {kept} rows to merge, {inserted} inserted, {updated} updated")
    held_rows = None if held is None or cleaned.frame is None else \
        cleaned.frame[~cleaned.frame["id"].isin(held)].reset_index(drop=True)
    return {
        **state.metadata(), **spark.metadata(), "duration_s": timer["seconds"], "batch_rows": batch_rows,
        "dropped_empty_text": empty_texts, "duplicates_in_batch": batch_rows - empty_texts - kept,
        "duplicates_of_earlier_batches": kept - inserted - updated,
        "inserted": inserted, "updated": updated, "cleaned_on": "driver" if cleaned.on_driver else "executors",
        "step_seconds": MetadataValue.json(lap.seconds),
        **spark.stage_metadata(),
    }, held_rows


@asset(
    deps=["bronze_tweets"],
    partitions_def=tweet_hours,
    group_name="silver",
    kinds={"spark", "delta"},
)
def silver_tweets(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                  micro_batching: MicroBatchResource, batch_state: ObjectStoreResource) -> MaterializeResult:
    """Typed timestamp, cleaned text, mentions and hashtags; empty texts dropped; one row per id.

    A tweet id belongs to the first batch that brought it: later copies are counted as
    duplicates. A batch silver has never held appends its new ids when only one micro-batch runs
    at a time; otherwise, and when re-running the owning batch, it MERGEs, whose conflict check
    makes the later of two batches bringing the same new id see it as held. A batch of at most
    micro_batching.driver_rows rows is cleaned on the driver, a larger one on the executors.
    """
    sole_writer = micro_batching.runs_at_once(context.instance) == 1
    written = run_hour(context, batch_state, lake, micro_batching, ["silver_tweets"], lambda batch: {
        "silver_tweets": write_silver(spark, lake, micro_batching, batch, sole_writer=sole_writer, log=context.log)[0]})
    return MaterializeResult(metadata=written["silver_tweets"])
