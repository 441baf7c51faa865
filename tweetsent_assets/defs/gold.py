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
from ..lib.ml.inference import SCORE_SCHEMA, make_row_filler, make_scorer
from ..lib.ml.models.types import ModelSpec
from .hour_runs import run_hour
from .partitions import tweet_hours
from .resources import (
    LakeResource,
    MicroBatchResource,
    MlflowResource,
    ObjectStoreResource,
    SentimentModelResource,
    SparkResource,
)
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
_GOLD_ROWS_NAMES = [part.split()[0] for part in GOLD_ROWS_SCHEMA.split(", ")]


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

    The batch's silver rows come to the driver (`silver_rows` when the caller has them, as the
    stream run does, else read from silver's log by `deltalake`), where texts are keyed and the
    cache is read. Misses beyond `driver_texts` are scored by one Spark job that also writes gold
    (score_and_write); fewer are scored in this process and gold is written from the driver. Gold
    is written for this batch only (delta_tables.replace_batch): silver gives every id to exactly
    one batch, so no MERGE is needed. A silver table `deltalake` cannot read goes through Spark
    (score_batch_in_spark).
    """
    use_cache = prediction_cache.cacheable(spec) if use_cache is None else use_cache
    cache_path = lake.path(prediction_cache.TABLE) if use_cache else None
    if silver_rows is None:
        silver_rows = delta_tables.batch_from_log(lake.path("silver_tweets"), batch_id, list(GOLD_CONTEXT_COLUMNS))
    if silver_rows is None:
        return score_batch_in_spark(session, lake, batch_id, spec, cache_path)
    result, lap = GoldBatch(), Laps()
    keyed = silver_rows[list(GOLD_CONTEXT_COLUMNS)].assign(
        norm_text=silver_rows["cleaned_text"].map(prediction_cache.normalize_text))
    keyed["text_hash"] = keyed["norm_text"].map(prediction_cache.normalized_hash)
    texts = (keyed.groupby("text_hash", sort=False).agg(norm_text=("norm_text", "first"), rows=("id", "size"))
             .reset_index())
    cached, misses = cached_predictions(session, texts, spec, cache_path)
    lap("read")
    if len(misses) > driver_texts:
        written = score_and_write(session, lake, batch_id, spec, keyed, cached)
        predicted = _with_cached(written.merge(misses[["text_hash", "rows"]], on="text_hash"), cached)
        lap("score_and_write")
    else:
        predicted = _with_cached(score_misses(session, misses, spec, driver_texts), cached)
        lap("inference")
        rows = keyed.merge(predicted[list(_PREDICTION_NAMES)], on="text_hash").drop(columns=["text_hash", "norm_text"])
        gold = local_frame(session, rows, GOLD_ROWS_SCHEMA).withColumn("scored_at", F.current_timestamp())
        delta_tables.replace_batch(gold, lake.path(GOLD_TABLE), batch_id, rows=len(rows))
        lap("write_gold")
    return _finish(session, lake, result, predicted, cache_path, lap)


def score_and_write(session, lake: LakeResource, batch_id: str, spec: ModelSpec, keyed: pd.DataFrame,
                    cached: pd.DataFrame) -> pd.DataFrame:
    """Score the keyed rows that `cached` has no prediction for and write the batch to gold, in one Spark job.

    Rows are spread over one partition per task slot by their text's hash (identical texts meet
    in one partition and are scored once there), and each task writes its scored rows straight to
    gold's files: nothing goes back to the driver before the write. Returns one prediction per
    text_hash of the batch, read back from gold's log.
    """
    rows = keyed.merge(cached[list(_PREDICTION_NAMES)], on="text_hash", how="left")
    spread = local_frame(session, rows[[*_GOLD_ROWS_NAMES, "norm_text"]], f"{GOLD_ROWS_SCHEMA}, norm_text string")
    scored = map_in_pandas(spread.repartition(parallelism(session), "norm_text"), make_row_filler(spec),
                           GOLD_ROWS_SCHEMA)
    path = lake.path(GOLD_TABLE)
    delta_tables.replace_batch(scored.withColumn("scored_at", F.current_timestamp()), path, batch_id, rows=len(rows))
    names = ["id", *_PREDICTION_NAMES[1:]]
    written = delta_tables.batch_from_log(path, batch_id, names)
    if written is None:
        written = delta_tables.read_batch(session, path, batch_id).select(*names).toPandas()
    return (keyed[["id", "text_hash"]].merge(written, on="id").drop(columns="id")
            .drop_duplicates("text_hash", ignore_index=True))


def score_batch_in_spark(session, lake: LakeResource, batch_id: str, spec: ModelSpec,
                         cache_path: str | None) -> GoldBatch:
    """score_batch for a silver table only Spark reads: distinct texts to the driver, misses scored by one
    Spark job, gold written by joining the batch's rows (cached by the first job) with the predictions."""
    result, lap = GoldBatch(), Laps()
    silver = delta_tables.read_batch(session, lake.path("silver_tweets"), batch_id).select(*GOLD_CONTEXT_COLUMNS)
    keyed = prediction_cache.with_text_key(silver).cache()
    texts = (keyed.groupBy("text_hash").agg(F.first("norm_text").alias("norm_text"), F.count("*").alias("rows"))
             .toPandas())
    cached, misses = cached_predictions(session, texts, spec, cache_path)
    predicted = _with_cached(score_misses(session, misses, spec), cached)
    lap("inference")
    predictions = local_frame(session, predicted[list(_PREDICTION_NAMES)], PREDICTION_SCHEMA)
    gold = (keyed.join(F.broadcast(predictions), "text_hash").drop("text_hash", "norm_text")
            .withColumn("scored_at", F.current_timestamp()))
    delta_tables.replace_batch(gold, lake.path(GOLD_TABLE), batch_id, rows=int(predicted["rows"].sum()))
    lap("write_gold")
    done = _finish(session, lake, result, predicted, cache_path, lap)
    keyed.unpersist()
    return done


def _finish(session, lake: LakeResource, result: GoldBatch, predicted: pd.DataFrame, cache_path: str | None,
            lap: Laps) -> GoldBatch:
    """Counts from the batch's predictions, new predictions stored in the cache, gold's state: the result."""
    _count(result, predicted)
    if cache_path and result.texts_scored:
        scored = predicted.loc[~predicted["_cached"].astype(bool), list(_PREDICTION_NAMES)]
        prediction_cache.store(session, cache_path, local_frame(session, scored, PREDICTION_SCHEMA))
    lap("store_cache")
    result.table = delta_tables.describe(session, lake.path(GOLD_TABLE))
    lap("describe")
    result.seconds = lap.seconds
    return result


def cached_predictions(session, texts: pd.DataFrame, spec: ModelSpec,
                       cache_path: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cache's predictions of `spec` for `texts` (text_hash, norm_text, rows), with their `rows`, and the
    texts it has none for (the misses)."""
    hits = prediction_cache.lookup(session, cache_path, texts["text_hash"].tolist(), spec) \
        if cache_path and len(texts) else None
    cached = _no_predictions() if hits is None else texts[["text_hash", "rows"]].merge(hits, on="text_hash")
    return cached, texts[~texts["text_hash"].isin(cached["text_hash"])]


def score_misses(session, misses: pd.DataFrame, spec: ModelSpec, driver_texts: int = 0) -> pd.DataFrame:
    """One prediction per row of `misses` (text_hash, norm_text, rows), with its `rows`.

    At most `driver_texts` texts are scored in this process (the stream run keeps its model loaded,
    so a small batch needs no Spark job); more are spread over one partition per task slot, so every
    slot runs one Python worker with OMP_NUM_THREADS (= spark.task.cpus) torch threads: the cores
    are used without oversubscription.
    """
    if not len(misses):
        return _no_predictions()
    if len(misses) <= driver_texts:
        scorer = make_scorer(spec, text_column="norm_text", id_column="text_hash", threads=os.cpu_count())
        scored = pd.concat(scorer(iter([misses[["text_hash", "norm_text"]]])), ignore_index=True)
    else:
        scorer = make_scorer(spec, text_column="norm_text", id_column="text_hash")
        spread = local_frame(session, misses[["text_hash", "norm_text"]], "text_hash string, norm_text string")
        scored = map_in_pandas(spread.repartition(parallelism(session)), scorer, SCORE_SCHEMA).toPandas()
    return scored.rename(columns={"id": "text_hash"}).merge(misses[["text_hash", "rows"]], on="text_hash")


def _with_cached(scored: pd.DataFrame, cached: pd.DataFrame) -> pd.DataFrame:
    """Scored and cached predictions together, each marked by `_cached`."""
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

    `driver_texts` and `silver_rows`: see score_batch (the stream run passes them).
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
    partitions_def=tweet_hours,
    group_name="gold",
    kinds={"spark", "delta", "pytorch"},
    automation_condition=FOLLOW_SILVER_AND_CHAMPION,
)
def gold_tweet_sentiment(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                         sentiment_model: SentimentModelResource, mlflow: MlflowResource,
                         batch_state: ObjectStoreResource, micro_batching: MicroBatchResource) -> MaterializeResult:
    """Label, score, per-class probabilities and model name/version for the silver rows of the run's batches.

    Scores with `models:/tweet-sentiment@champion` (pinned to its version for the whole run);
    executors load the model once per Python worker. Texts already in the prediction cache for
    that version skip the model. A new champion re-scores the latest hour; `rescore_gold` any others.
    """
    spec = sentiment_model.spec(mlflow)
    written = run_hour(context, batch_state, lake, micro_batching, [GOLD_TABLE], lambda batch: {
        GOLD_TABLE: write_gold(spark, lake, spec, batch, context.log)})
    return MaterializeResult(metadata=written[GOLD_TABLE])
