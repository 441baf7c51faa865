"""Gold: silver rows scored by the current sentiment model, rewritten batch by batch."""

import time
from dataclasses import dataclass, field

from dagster import AssetExecutionContext, AssetSelection, AutomationCondition, MaterializeResult, MetadataValue, asset
from pyspark.sql import functions as F

from ..lib.lake import delta_tables
from ..lib.lake.pandas_udfs import map_in_pandas
from ..lib.lake.spark_session import parallelism
from ..lib.ml import prediction_cache
from ..lib.ml.inference import SCORE_SCHEMA, make_scorer
from ..lib.ml.models.types import ModelSpec
from .partitions import tweet_batches
from .resources import LakeResource, MlflowResource, SentimentModelResource, SparkResource
from .timing import Laps, stopwatch

# Follows silver and re-scores when the champion changes; a missing champion (none promoted yet) does not block.
FOLLOW_SILVER_AND_CHAMPION = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()) & \
    ~AutomationCondition.any_deps_missing().ignore(AssetSelection.assets("champion_model"))

GOLD_CONTEXT_COLUMNS = ("id", "batch_id", "created_at", "user", "text", "cleaned_text", "mentions",
                        "hashtags", "lang", "given_sentiment")
GOLD_TABLE = "gold_tweet_sentiment"


@dataclass
class GoldBatch:
    """What scoring one batch did: rows, label counts, cache use, and seconds per step."""

    batch_rows: int = 0
    labels: dict = field(default_factory=dict)
    cache_hits: int = 0
    texts_scored: int = 0
    table: delta_tables.TableState | None = None
    seconds: dict = field(default_factory=dict)


def score_batch(session, lake: LakeResource, batch_id: str, spec: ModelSpec, use_cache: bool | None = None) -> GoldBatch:
    """Score one batch's silver rows into gold; each distinct text is scored once, cached ones not at all.

    Distinct texts are spread over one partition per task slot, so every slot runs one worker
    with OMP_NUM_THREADS (= spark.task.cpus) torch threads and the cores are used without
    oversubscription. Gold is written for this batch only (delta_tables.replace_batch): silver
    gives every id to exactly one batch, so no MERGE against the rest of the table is needed.
    """
    result, lap = GoldBatch(), Laps()
    use_cache = prediction_cache.cacheable(spec) if use_cache is None else use_cache
    cache_path = lake.path(prediction_cache.TABLE)
    silver = delta_tables.read_batch(session, lake.path("silver_tweets"), batch_id).select(*GOLD_CONTEXT_COLUMNS)
    keyed = prediction_cache.with_text_key(silver).cache()  # read by the lookup, the misses and the join
    hits = prediction_cache.lookup(session, cache_path, keyed, spec) if use_cache else None
    misses = keyed if hits is None else keyed.join(F.broadcast(hits.select("text_hash")), "text_hash", "left_anti")
    distinct = misses.select("text_hash", "norm_text").dropDuplicates(["text_hash"]).repartition(parallelism(session))
    scorer = make_scorer(spec, text_column="norm_text", id_column="text_hash")
    predictions = (map_in_pandas(distinct, scorer, SCORE_SCHEMA).withColumnRenamed("id", "text_hash")
                   .withColumn("_cached", F.lit(False)))
    if hits is not None:
        predictions = predictions.unionByName(hits.withColumn("_cached", F.lit(True)))
    gold = keyed.join(predictions, "text_hash").withColumn("scored_at", F.current_timestamp()).cache()
    counts = (gold.groupBy("label", "_cached")
              .agg(F.count("*").alias("rows"), F.countDistinct("text_hash").alias("texts")).collect())
    lap("inference")
    for row in counts:
        result.labels[row["label"]] = result.labels.get(row["label"], 0) + row["rows"]
        result.cache_hits += row["rows"] if row["_cached"] else 0
        result.texts_scored += 0 if row["_cached"] else row["texts"]
    result.batch_rows = sum(result.labels.values())
    delta_tables.replace_batch(gold.drop("text_hash", "norm_text", "_cached"), lake.path(GOLD_TABLE), batch_id,
                               rows=result.batch_rows)
    lap("write_gold")
    if use_cache and result.texts_scored:
        prediction_cache.store(session, cache_path, gold.where(~F.col("_cached")).dropDuplicates(["text_hash"]))
    lap("store_cache")
    result.table = delta_tables.describe(session, lake.path(GOLD_TABLE))
    lap("describe")
    gold.unpersist()
    keyed.unpersist()
    result.seconds = lap.seconds
    return result


@asset(
    deps=["silver_tweets", "champion_model"],
    partitions_def=tweet_batches,
    group_name="gold",
    kinds={"spark", "delta", "pytorch"},
    automation_condition=FOLLOW_SILVER_AND_CHAMPION,
)
def gold_tweet_sentiment(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                         sentiment_model: SentimentModelResource, mlflow: MlflowResource) -> MaterializeResult:
    """Label, score, per-class probabilities and model name/version for the batch's silver rows.

    Scores with `models:/tweet-sentiment@champion` (pinned to its version for the whole run);
    executors load the model once per Python worker. Texts already in the prediction cache for
    that version skip the model. A new champion re-scores every partition.
    """
    batch_id = context.partition_key
    spec = sentiment_model.spec(mlflow)
    with stopwatch() as timer:
        started = time.perf_counter()
        session = spark.session()
        session_s = round(time.perf_counter() - started, 3)
        done = score_batch(session, lake, batch_id, spec)
    tweets_per_s = done.batch_rows / timer["seconds"] if timer["seconds"] else 0.0
    context.log.info(f"batch {batch_id}: scored {done.batch_rows} tweets with {spec.name} "
                     f"({tweets_per_s:.1f} tweets/s, {done.cache_hits} from the prediction cache)")
    return MaterializeResult(metadata={
        **done.table.metadata(), **spark.metadata(), "duration_s": timer["seconds"], "batch_rows": done.batch_rows,
        "model_name": spec.name, "model_version": spec.version or "unversioned",
        "labels": MetadataValue.json(done.labels), "tweets_per_s": round(tweets_per_s, 1),
        "cache_hits": done.cache_hits, "texts_scored": done.texts_scored,
        "step_seconds": MetadataValue.json({"spark_session": session_s, **done.seconds}),
    })
