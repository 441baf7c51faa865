"""prediction_drift: per time window, gold's predictions and texts against the champion's baseline.

Folded batch by batch like the aggregates (off the path to gold): the fold_aggregates job runs
fold_drift_batches next to the aggregate fold, and a single partition can be materialized on its
own. The check warns (never fails a run) naming the windows whose metrics cross the thresholds.
"""
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    asset_check,
    op,
)
from pydantic import Field

from .. import settings
from ..lib.insights import drift, drift_tables
from ..lib.insights.sql import read_where
from ..lib.ingest.hours import batch_prefix
from ..lib.lake.delta_tables import batches_with_prefix
from .folds import changed_meanwhile, unfolded_batches
from .partitions import tweet_hours
from .resources import LakeResource, SparkResource
from .timing import stopwatch
from .priority import take_run_priority

DRIFT_ASSET = "prediction_drift"
CHECK_NAME = "prediction_drift_within_thresholds"


class DriftConfig(Config):
    window: str = Field(default=settings.TREND_WINDOW, description="Time window of prediction_drift (the trends' "
                                                                   "window); after changing it, fold every batch again")
    psi: float = Field(default=settings.DRIFT_PSI, description="Flag a label mix whose PSI exceeds this")
    js: float = Field(default=settings.DRIFT_JS, description="Flag a label mix whose Jensen-Shannon distance exceeds this")
    ks: float = Field(default=settings.DRIFT_KS, description="Flag confidence or text-length KS statistics above this")
    share_shift: float = Field(default=settings.DRIFT_SHARE_SHIFT,
                               description="Flag shares (low confidence, emoji, URLs, hashtags) that moved by more")
    low_confidence: float = Field(default=settings.DRIFT_LOW_CONFIDENCE,
                                  description="Confidence below which a prediction counts as low-confidence")
    min_tweets: int = Field(default=settings.DRIFT_MIN_TWEETS, description="Tweets a window needs to be flagged")

    def thresholds(self) -> drift.Thresholds:
        return drift.Thresholds(psi=self.psi, js=self.js, ks=self.ks, share_shift=self.share_shift,
                                low_confidence=self.low_confidence, min_tweets=self.min_tweets)


def _metadata(done: dict, config: DriftConfig, seconds: float, rows: int) -> dict:
    """prediction_drift's materialization metadata for one folded hour."""
    flagged = done["rows"][done["rows"]["flagged"]]
    return {"duration_s": seconds, "batch_rows": rows, "stats_version": done["stats_version"],
            "windows_touched": done["windows_touched"], "window": config.window,
            "baseline_version": done["baseline_version"] or "none", "flagged_windows": len(flagged),
            "thresholds": MetadataValue.json(config.thresholds().__dict__)}


@asset(deps=["gold_tweet_sentiment"], partitions_def=tweet_hours, group_name="aggregates", kinds={"spark", "delta"},
       description="Per time window: label mix, confidence, text length and emoji/URL/hashtag shares of gold against "
                   "the champion's evaluation predictions (PSI, Jensen-Shannon, KS, share shifts), flagged windows.")
def prediction_drift(context: AssetExecutionContext, config: DriftConfig, spark: SparkResource,
                     lake: LakeResource) -> MaterializeResult:
    """Folds the statistics of the hour's gold batches (replacing any earlier fold), then updates the windows they moved."""
    batches = batches_with_prefix(lake.path("gold_tweet_sentiment"), batch_prefix(context.partition_key)) or []
    if not batches:
        context.log.info(f"hour {context.partition_key} has no batches in gold: nothing to fold")
        return MaterializeResult(metadata={"batches": 0})
    with stopwatch() as timer:
        done = _fold(spark, lake, batches, config)
    return MaterializeResult(metadata={**_metadata(done, config, timer["seconds"], done["batch_rows"]),
                                       "batches": len(batches)})


@op(description="Folds every batch whose gold finished since its last drift fold into prediction_drift, in one "
                "run; records a materialization per folded hour and evaluates the drift check.")
def fold_drift_batches(context: OpExecutionContext, config: DriftConfig, spark: SparkResource,
                       lake: LakeResource) -> None:
    take_run_priority(context)
    pending = unfolded_batches(context.instance, lake.path, DRIFT_ASSET, drift_tables.STATS_TABLE)
    hours = pending.first()
    batches = [b for hour_batches in hours.values() for b in hour_batches]
    if not hours:
        context.log.info("every hour with gold is folded into prediction_drift")
        return
    with stopwatch() as timer:
        done = _fold(spark, lake, batches, config) if batches else None
    changed = changed_meanwhile(context.instance, list(hours), pending)
    for hour in (h for h in hours if h not in changed):
        rows = sum(done["rows_per_batch"].get(b, 0) for b in hours[hour]) if done else 0
        metadata = _metadata(done, config, timer["seconds"], rows) if done else {}
        context.log_event(AssetMaterialization(asset_key=DRIFT_ASSET, partition=hour,
                                               metadata={**metadata, "batches": len(hours[hour]),
                                                         "folded_with": len(batches)}))
    result = _check_result(spark, lake)
    context.log_event(AssetCheckEvaluation(asset_key=AssetKey(DRIFT_ASSET), check_name=CHECK_NAME,
                                           passed=result.passed, severity=result.severity, metadata=result.metadata))
    context.log.info(f"folded {len(batches)} batches of {len(hours)} hours into prediction_drift in "
                     f"{timer['seconds']} s against baseline {(done or {}).get('baseline_version') or 'none'}; "
                     f"{result.metadata['flagged_windows'].value} windows flagged")


def _fold(spark: SparkResource, lake: LakeResource, batches: list[str], config: DriftConfig) -> dict:
    return drift_tables.update_batches(spark.session(), drift_tables.Paths.under(lake.path), batches, config.window,
                                       config.thresholds())


def _check_result(spark: SparkResource, lake: LakeResource) -> AssetCheckResult:
    """Passes while no window against the current baseline crosses a threshold; else warns naming them."""
    rows = read_where(spark.session(), lake.path(drift_tables.DRIFT_TABLE), "flagged")
    flagged = drift.flagged_windows(rows)
    return AssetCheckResult(passed=flagged.empty, severity=AssetCheckSeverity.WARN, metadata={
        "flagged_windows": len(flagged),
        "windows": MetadataValue.md(flagged.tail(20).to_markdown(index=False) if len(flagged) else "none")})


@asset_check(asset=prediction_drift, name=CHECK_NAME,
             description="Warns naming the windows whose drift metrics cross the configured thresholds.")
def prediction_drift_within_thresholds(context: AssetCheckExecutionContext, spark: SparkResource,
                                       lake: LakeResource) -> AssetCheckResult:
    return _check_result(spark, lake)


DRIFT_CHECKS = [prediction_drift_within_thresholds]
