"""Silver: one clean row per tweet id, typed and normalised, merged batch by batch."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from pyspark.sql import Window
from pyspark.sql import functions as F

from ..lib.ingest.silver_rows import BRONZE_INPUT_COLUMNS, SILVER_SCHEMA, silver_partitions
from ..lib.lake import delta_tables
from ..lib.lake.pandas_udfs import map_in_pandas
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
    makes the later of two batches bringing the same new id see it as held.
    """
    batch_id = context.partition_key
    spark.watch_stages("silver")
    with stopwatch() as timer:
        lap = Laps()
        session = spark.session()
        lap("spark_session")
        bronze_path = lake.path("bronze_tweets")
        bronze = delta_tables.read_batch(session, bronze_path, batch_id).select(*BRONZE_INPUT_COLUMNS)
        has_text = F.col("text").isNotNull() & (F.length(F.trim("text")) > 0)
        batch_rows = delta_tables.batch_rows_in_log(bronze_path, batch_id)
        if batch_rows is None:
            batch_rows = bronze.count()
        lap("read_bronze")
        silver = map_in_pandas(bronze.where(has_text), silver_partitions, SILVER_SCHEMA)
        first_per_id = Window.partitionBy("id").orderBy("ingested_at", "record_key")
        ranked = silver.withColumn("_n", F.row_number().over(first_per_id)).cache()
        ranks = [(row.id, row._n) for row in ranked.select("id", "_n").collect()]
        ids = [i for i, n in ranks if n == 1]
        deduped = ranked.where("_n = 1").drop("_n")
        kept, empty_texts = len(ids), batch_rows - len(ranks)
        lap("clean_and_dedupe")
        path = lake.path("silver_tweets")
        if micro_batching.runs_at_once(context.instance) == 1 and delta_tables.batch_is_new(path, batch_id):
            metrics = delta_tables.append_new_ids(session, deduped, path, batch_id, ids)
        else:
            metrics = delta_tables.merge_by_id(session, deduped, path, update_when="t.batch_id = s.batch_id")
        lap("write")
        state = delta_tables.describe(session, lake.path("silver_tweets"))
        ranked.unpersist()
        lap("describe")
    inserted = metrics.get("num_inserted_rows", 0)
    updated = metrics.get("num_updated_rows", 0)
    context.log.info(f"batch {batch_id}: {kept} rows to merge, {inserted} inserted, {updated} updated")
    return MaterializeResult(metadata={
        **state.metadata(), **spark.metadata(), "duration_s": timer["seconds"], "batch_rows": batch_rows,
        "dropped_empty_text": empty_texts, "duplicates_in_batch": batch_rows - empty_texts - kept,
        "duplicates_of_earlier_batches": kept - inserted - updated,
        "inserted": inserted, "updated": updated, "step_seconds": MetadataValue.json(lap.seconds),
        **spark.stage_metadata(),
    })
