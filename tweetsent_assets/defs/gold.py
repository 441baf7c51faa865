"""Gold: silver rows scored by the current sentiment model, rewritten batch by batch."""

import os
import time
from dataclasses import dataclass, field

import pandas as pd
from dagster import AssetExecutionContext, AssetSelection, AutomationCondition, MaterializeResult, MetadataValue, asset
from pyspark.sql import functions as F

from ..lib.ingest.silver_rows import SILVER_SCHEMA
from ..lib.lake import delta_tables
from ..lib.lake.pandas_udfs import local_frame, map_in_pandas
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
PREDICTION_SCHEMA = ("text_hash string, label string, score double, p_negative double, p_neutral double, "
                     "p_positive double, model_name string, model_version string")
_PREDICTION_NAMES = tuple(part.split()[0] for part in PREDICTION_SCHEMA.split(", "))
_SILVER_TYPES = dict(part.split(" ", 1) for part in SILVER_SCHEMA.split(", "))
# Gold's rows before scored_at, in the order the Spark path writes them.
GOLD_ROWS_SCHEMA = ", ".join([*(f"{c} {_SILVER_TYPES[c]}" for c in GOLD_CONTEXT_COLUMNS),
                              *PREDICTION_SCHEMA.split(", ")[1:]])


@dataclass
class GoldBatch:
    """What scoring one batch did: rows, label counts, cache use, and seconds per step."""

    batch_rows: int = 0
    labels: dict = field(default_factory=dict)
    cache_hits: int = 0
    texts_scored: int = 0
    table: delta_tables.TableState | None = None
    seconds: dict = field(default_factory=dict)


def score_batch(session, lake: LakeResource, batch_id: str, spec: ModelSpec,
                use_cache: bool | None = None, driver_texts: int = 0,
                silver_rows: pd.DataFrame | None = None) -> GoldBatch:
    """Score one batch's silver rows into gold; each distinct text is scored once, cached ones not at all.

    The batch's distinct texts (with their row counts) come to the driver, the cache is read for
    them with their hashes as literals, and one Spark job scores the misses and brings the
    predictions back; label counts, cache hits and texts scored are summed on the driver. Gold is
    then written by joining the batch's rows (cached in Spark by the first job) with the
    predictions, and the cache stores them from the driver: a few small jobs, the model run once.
    Gold is written for this batch only (delta_tables.replace_batch): silver gives every id to
    exactly one batch, so no MERGE is needed. With `silver_rows` (every silver row of the batch,
    already on the driver: the stream run), texts are keyed and counted with pandas and gold is
    written from the driver's rows, so the only Spark job is the write.
    """
    result, lap = GoldBatch(), Laps()
    use_cache = prediction_cache.cacheable(spec) if use_cache is None else use_cache
    cache_path = lake.path(prediction_cache.TABLE)
    if silver_rows is None:
        silver = delta_tables.read_batch(session, lake.path("silver_tweets"), batch_id).select(*GOLD_CONTEXT_COLUMNS)
        keyed = prediction_cache.with_text_key(silver).cache()  # filled by the first job, read again by the write
        texts = (keyed.groupBy("text_hash").agg(F.first("norm_text").alias("norm_text"), F.count("*").alias("rows"))
                 .toPandas())
    else:
        keyed = silver_rows[list(GOLD_CONTEXT_COLUMNS)].assign(
            norm_text=silver_rows["cleaned_text"].map(prediction_cache.normalize_text),
            text_hash=silver_rows["cleaned_text"].map(prediction_cache.text_hash))
        texts = (keyed.groupby("text_hash", sort=False).agg(norm_text=("norm_text", "first"), rows=("id", "size"))
                 .reset_index())
    predicted = predict_texts(session, texts, spec, cache_path if use_cache else None, driver_texts)
    _count(result, predicted)
    lap("inference")
    if silver_rows is None:
        predictions = local_frame(session, predicted[list(_PREDICTION_NAMES)], PREDICTION_SCHEMA)
        gold = keyed.join(F.broadcast(predictions), "text_hash").drop("text_hash", "norm_text")
    else:
        rows = keyed.merge(predicted[list(_PREDICTION_NAMES)], on="text_hash").drop(columns=["text_hash", "norm_text"])
        gold = local_frame(session, rows, GOLD_ROWS_SCHEMA)
    gold = gold.withColumn("scored_at", F.current_timestamp())
    delta_tables.replace_batch(gold, lake.path(GOLD_TABLE), batch_id, rows=result.batch_rows)
    lap("write_gold")
    if use_cache and result.texts_scored:
        scored = predicted.loc[~predicted["_cached"].astype(bool), list(_PREDICTION_NAMES)]
        prediction_cache.store(session, cache_path, local_frame(session, scored, PREDICTION_SCHEMA))
    lap("store_cache")
    result.table = delta_tables.describe(session, lake.path(GOLD_TABLE))
    lap("describe")
    if silver_rows is None:
        keyed.unpersist()
    result.seconds = lap.seconds
    return result


def predict_texts(session, texts: pd.DataFrame, spec: ModelSpec, cache_path: str | None,
                  driver_texts: int = 0) -> pd.DataFrame:
    """One prediction per row of `texts` (text_hash, norm_text, rows), with its `rows` and `_cached`.

    With `cache_path`, texts cached for `spec` skip the model. At most `driver_texts` misses are
    scored in this process (the stream run keeps its model loaded, so a small batch needs no Spark
    job); more are spread over one partition per task slot, so every slot runs one Python worker
    with OMP_NUM_THREADS (= spark.task.cpus) torch threads: the cores are used without oversubscription.
    """
    hits = prediction_cache.lookup(session, cache_path, texts["text_hash"].tolist(), spec) \
        if cache_path and len(texts) else None
    cached = _no_predictions() if hits is None else texts[["text_hash", "rows"]].merge(hits, on="text_hash")
    misses = texts[~texts["text_hash"].isin(cached["text_hash"])]
    scored = _no_predictions()
    if len(misses) and len(misses) <= driver_texts:
        scorer = make_scorer(spec, text_column="norm_text", id_column="text_hash", threads=os.cpu_count())
        scored = (pd.concat(scorer(iter([misses[["text_hash", "norm_text"]]])), ignore_index=True)
                  .rename(columns={"id": "text_hash"}).merge(misses[["text_hash", "rows"]], on="text_hash"))
    elif len(misses):
        scorer = make_scorer(spec, text_column="norm_text", id_column="text_hash")
        spread = local_frame(session, misses[["text_hash", "norm_text"]], "text_hash string, norm_text string")
        scored = (map_in_pandas(spread.repartition(parallelism(session)), scorer, SCORE_SCHEMA).toPandas()
                  .rename(columns={"id": "text_hash"}).merge(misses[["text_hash", "rows"]], on="text_hash"))
    parts = [part for part in (scored.assign(_cached=False), cached.assign(_cached=True)) if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else _no_predictions().assign(_cached=pd.Series(dtype=bool))


def _no_predictions() -> pd.DataFrame:
    """Zero predictions, with their columns."""
    return pd.DataFrame({name: pd.Series(dtype=object) for name in (*_PREDICTION_NAMES, "rows")})


def _count(result: GoldBatch, predicted: pd.DataFrame) -> None:
    """Label counts (rows), cache hits (rows) and texts scored (distinct texts) of the batch's predictions."""
    rows = predicted["rows"].astype("int64")
    by_label = rows.groupby(predicted["label"], dropna=False).sum()
    result.labels = {label: int(count) for label, count in by_label.items()}
    result.cache_hits = int(rows[predicted["_cached"].astype(bool)].sum())
    result.texts_scored = int((~predicted["_cached"].astype(bool)).sum())
    result.batch_rows = int(rows.sum())


def write_gold(spark: SparkResource, lake: LakeResource, spec: ModelSpec, batch_id: str, log,
               driver_texts: int = 0, silver_rows: pd.DataFrame | None = None) -> dict:
    """Score the batch into gold with `spec`; its materialization metadata (the gold asset and the stream run).

    `driver_texts` and `silver_rows`: see predict_texts and score_batch (the stream run passes them).
    """
    spark.watch_stages("gold")
    with stopwatch() as timer:
        started = time.perf_counter()
        session = spark.session()
        session_s = round(time.perf_counter() - started, 3)
        done = score_batch(session, lake, batch_id, spec, driver_texts=driver_texts, silver_rows=silver_rows)
    tweets_per_s = done.batch_rows / timer["seconds"] if timer["seconds"] else 0.0
    log.info(f"batch {batch_id}: scored {done.batch_rows} tweets with {spec.name} "
             f"({tweets_per_s:.1f} tweets/s, {done.cache_hits} from the prediction cache)")
    return {
        **done.table.metadata(), **spark.metadata(), "duration_s": timer["seconds"], "batch_rows": done.batch_rows,
        "model_name": spec.name, "model_version": spec.version or "unversioned",
        "labels": MetadataValue.json(done.labels), "tweets_per_s": round(tweets_per_s, 1),
        "cache_hits": done.cache_hits, "texts_scored": done.texts_scored,
        "scored_on": "driver" if 0 < done.texts_scored <= driver_texts else "executors",
        "step_seconds": MetadataValue.json({"spark_session": session_s, **done.seconds}),
        **spark.stage_metadata(),
    }


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
    return MaterializeResult(metadata=write_gold(spark, lake, sentiment_model.spec(mlflow), context.partition_key,
                                                 context.log))
