"""Aggregates over gold, kept up to date batch by batch: per @mention, per time window, and negativity spikes.

Every asset here is partitioned like gold, by hour: materializing an hour folds each of its batches'
contributions into the ledger (replacing any earlier one), then updates only the rows of the mentions
and windows they moved. The fold_aggregates job folds every batch finished since the last fold in one
run of its own (requested by the fold_after_gold sensor) and records one materialization per hour, so
the cost does not grow with history nor with one run per batch.
The `refresh_aggregates` job rebuilds everything from gold; the checks compare with such a verify.
"""
import json

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset_check,
    define_asset_job,
    in_process_executor,
    job,
    multi_asset,
    op,
)
from pydantic import Field

from .. import settings
from ..lib.insights import ledger as ledgers
from ..lib.insights import pipeline, tables, verify
from .drift import fold_drift_batches
from ..lib.ingest.hours import batch_prefix
from ..lib.lake.delta_tables import batches_with_prefix
from .folds import changed_meanwhile, unfolded_batches
from .partitions import tweet_hours
from .resources import LakeResource, SparkResource
from .timing import Laps, stopwatch
from .priority import take_run_priority



class AggregateConfig(Config):
    window: str = Field(default=settings.TREND_WINDOW,
                        description="Time window of the ledger and sentiment_trends, e.g. '15 minutes', '1 hour'; "
                                    "after changing it, run refresh_aggregates once")
    rolling: str = Field(default="24 hours", description="Span of the trailing rolling share, e.g. '6 hours'")
    z: float = Field(default=3.0, description="Flag windows whose negative share is more than z standard deviations "
                                              "from its rolling baseline")
    baseline: str = Field(default="24 hours", description="Span of earlier windows forming the baseline")
    min_baseline_windows: int = Field(default=6, description="Earlier windows needed before a window can be flagged")
    min_tweets: int = Field(default=10, description="Tweets a window needs to be flagged")
    two_sided: bool = Field(default=True, description="Flag drops of the negative share too, not only rises")
    top_n: int = Field(default=5, description="Top mentions and hashtags kept per flagged window")

    def settings(self) -> pipeline.Settings:
        rule = tables.SpikeRule(z=self.z, baseline=self.baseline, min_baseline_windows=self.min_baseline_windows,
                                min_tweets=self.min_tweets, two_sided=self.two_sided, top_n=self.top_n)
        return pipeline.Settings(window=self.window, rolling=self.rolling, rule=rule)


AGGREGATE_SPECS = [
    AssetSpec("aggregate_ledger", deps=["gold_tweet_sentiment"], partitions_def=tweet_hours,
              group_name="aggregates", kinds={"spark", "delta"},
              description="Per batch: partial counts per @mention and per time window; plus their running totals."),
    AssetSpec("mention_sentiment", deps=["aggregate_ledger"], partitions_def=tweet_hours,
              group_name="aggregates", kinds={"spark", "delta"},
              description="Per @mention: negative/neutral/positive counts, total, first and last seen."),
    AssetSpec("sentiment_trends", deps=["aggregate_ledger"], partitions_def=tweet_hours,
              group_name="aggregates", kinds={"spark", "delta"},
              description="Count and share of each sentiment per time window (config `window`), plus their "
                          "trailing rolling share (config `rolling`). Tweets without a time are left out."),
    AssetSpec("sentiment_spikes", deps=["sentiment_trends"], partitions_def=tweet_hours,
              group_name="aggregates", kinds={"spark", "delta"},
              description="Windows whose negative share departs from its rolling baseline by more than z standard "
                          "deviations, each with its top mentions and hashtags."),
]


@multi_asset(specs=AGGREGATE_SPECS, name="aggregates", partitions_def=tweet_hours, can_subset=False)
def aggregates(context: AssetExecutionContext, config: AggregateConfig, spark: SparkResource, lake: LakeResource):
    """Folds the hour's gold batches into the ledger (replacing earlier contributions), then updates the rows they moved.

    One MERGE moves the ledger totals by the batches' (new - old) partial counts; then one MERGE per
    table updates the touched mentions, the windows whose rolling share moved, and the windows
    whose spike baseline the batches are part of. The fold_aggregates job does the same for many hours at once.
    """
    hour = context.partition_key
    batches = batches_with_prefix(lake.path("gold_tweet_sentiment"), batch_prefix(hour)) or []
    if not batches:
        context.log.info(f"hour {hour} has no batches in gold: nothing to fold")
        for spec in AGGREGATE_SPECS:
            yield MaterializeResult(asset_key=spec.key, metadata={"batches": 0})
        return
    lap = Laps()
    spark.watch_stages("aggregates")
    with stopwatch() as timer:
        done = pipeline.update_batches(spark.session(), pipeline.Paths.under(lake.path), batches,
                                       config.settings(), lap)
    context.log.info(f"hour {hour}: {len(batches)} batches, {done['mentions_touched']} mentions and "
                     f"{done['windows_touched']} windows touched in {timer['seconds']} s")
    stages = spark.stage_metadata()
    for key, metadata in _metadata(done, config, timer["seconds"], lap, done["batch_rows"]).items():
        yield MaterializeResult(asset_key=key, metadata={**metadata, **stages, "batches": len(batches)})


def _metadata(done: dict, config: AggregateConfig, seconds: float, lap: Laps, batch_rows: int) -> dict[str, dict]:
    """Each aggregate asset's materialization metadata for one folded batch."""
    common = {"duration_s": seconds, "ledger_version": done["ledger_version"]}
    return {
        "aggregate_ledger": {**common, "window": config.window, "batch_rows": batch_rows,
                             "mentions_touched": done["mentions_touched"], "windows_touched": done["windows_touched"],
                             "windows_updated": done["windows_updated"], "step_seconds": MetadataValue.json(lap.seconds)},
        "mention_sentiment": {**common, "table_rows": done["mentions"]},
        "sentiment_trends": {**common, "table_rows": done["windows"], "rolling": config.rolling},
        "sentiment_spikes": {**common, "table_rows": done["spikes"], "spikes": done["spikes"],
                             "windows_rescored": done["windows_rescored"],
                             "rule": MetadataValue.json(config.settings().rule.__dict__),
                             "spike_windows": MetadataValue.md(_spike_table(done["spike_rows"]))},
    }


@op(description="Folds every batch whose gold finished since its last fold into the aggregates, in one run; "
                "records a materialization of each aggregate asset per folded hour.")
def fold_finished_batches(context: OpExecutionContext, config: AggregateConfig, spark: SparkResource,
                          lake: LakeResource) -> None:
    take_run_priority(context)
    pending = unfolded_batches(context.instance, lake.path, "aggregate_ledger", ledgers.TABLE)
    hours = pending.first()
    batches = [b for hour_batches in hours.values() for b in hour_batches]
    if not hours:
        context.log.info("every hour with gold is folded")
        return
    lap = Laps()
    spark.watch_stages("fold_aggregates")
    with stopwatch() as timer:
        done = pipeline.update_batches(spark.session(), pipeline.Paths.under(lake.path), batches, config.settings(),
                                       lap) if batches else None
    stages = spark.stage_metadata()
    changed = changed_meanwhile(context.instance, list(hours), pending)
    for hour, hour_batches in hours.items():
        if hour in changed:
            continue
        rows = sum((done["rows_per_batch"] if done else {}).get(b, 0) for b in hour_batches)
        for key, metadata in (_metadata(done, config, timer["seconds"], lap, rows) if done
                              else {spec.key.path[-1]: {} for spec in AGGREGATE_SPECS}).items():
            context.log_event(AssetMaterialization(asset_key=key, partition=hour,
                                                   metadata={**metadata, **stages, "batches": len(hour_batches),
                                                             "folded_with": len(batches)}))
    context.log.info(f"folded {len(batches)} batches of {len(hours)} hours "
                     f"({done['batch_rows'] if done else 0} gold rows) in {timer['seconds']} s; "
                     f"{len(pending.batches) - len(hours)} hours wait for the next run"
                     + (f"; gold changed meanwhile for {', '.join(changed)}, recorded next time" if changed else ""))


@job(executor_def=in_process_executor, tags={"tweetsent/kind": "aggregates", "dagster/priority": "5"},
     description="Folds every finished batch not yet folded into the aggregates and prediction_drift "
                 "(one run for many batches).")
def fold_aggregates():
    fold_finished_batches()
    fold_drift_batches()


def _spike_table(spikes) -> str:
    """The newest flagged windows as a markdown table for the Dagster UI."""
    if spikes.empty:
        return "no spikes"
    shown = spikes.sort_values("window_start").tail(20).assign(
        top_mentions=lambda s: s["top_mentions"].map(", ".join), top_hashtags=lambda s: s["top_hashtags"].map(", ".join))
    shown = shown[["window_start", "negative", "total", "share_negative", "baseline_share_negative", "z_score",
                   "top_mentions", "top_hashtags"]]
    return shown.round(3).to_markdown(index=False)


@op(description="Rebuilds the aggregate ledger and the mention, trend and spike tables from the whole gold table.")
def rebuild_aggregates(context: OpExecutionContext, config: AggregateConfig, spark: SparkResource,
                       lake: LakeResource) -> None:
    with stopwatch() as timer:
        done = pipeline.rebuild_all(spark.session(), pipeline.Paths.under(lake.path), config.settings())
    context.log.info(f"rebuilt the aggregates from {done['batch_rows']} gold rows in {timer['seconds']} s: "
                     f"{done['mentions']} mentions, {done['windows']} windows, {done['spikes']} spikes")


@job(executor_def=in_process_executor,
     description="Full rebuild of the aggregates from gold (after a change of window, or to repair).")
def refresh_aggregates():
    rebuild_aggregates()


def _recorded(context: AssetCheckExecutionContext, asset_name: str, key: str, default):
    """A setting as the asset's latest materialization recorded it (its default before any)."""
    event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return metadata[key].value if key in metadata else default


def _trend_spans(context: AssetCheckExecutionContext) -> tuple[str, str]:
    """The window and rolling span the aggregates were last built with."""
    return (_recorded(context, "aggregate_ledger", "window", settings.TREND_WINDOW),
            _recorded(context, "sentiment_trends", "rolling", AggregateConfig().rolling))


def _result(diff: dict) -> AssetCheckResult:
    passed = not (diff["missing"] or diff["extra"] or diff["different"])
    return AssetCheckResult(passed=passed, metadata={**{k: v for k, v in diff.items() if k != "examples"},
                                                     "examples": ", ".join(diff["examples"]) or "none"})


@asset_check(asset="mention_sentiment", description="Equals a full rebuild from gold: same mentions, counts, "
                                                  "first and last seen (reads all of gold: run on demand).")
def mention_sentiment_matches_rebuild(context: AssetCheckExecutionContext, spark: SparkResource,
                                      lake: LakeResource) -> AssetCheckResult:
    session = spark.session()
    actual = session.read.format("delta").load(lake.path("mention_sentiment")).toPandas()
    expected = verify.expected_mentions(session.read.format("delta").load(lake.path("gold_tweet_sentiment")))
    return _result(verify.differences(actual, expected, "mention", [*ledgers.COUNTS, *ledgers.EXTREMES]))


@asset_check(asset="sentiment_trends", description="Equals a full rebuild from gold: same windows, counts, shares "
                                                 "and rolling shares (reads all of gold: run on demand).")
def sentiment_trends_matches_rebuild(context: AssetCheckExecutionContext, spark: SparkResource,
                                     lake: LakeResource) -> AssetCheckResult:
    session = spark.session()
    window, rolling = _trend_spans(context)
    actual = session.read.format("delta").load(lake.path("sentiment_trends")).toPandas()
    expected = verify.expected_trends(session.read.format("delta").load(lake.path("gold_tweet_sentiment")),
                                       window, rolling)
    shares = [c for c in tables.columns(tables.TRENDS_SCHEMA) if "share" in c]
    return _result(verify.differences(actual, expected, "window_start", ["window_end", *ledgers.COUNTS], shares))


@asset_check(asset="sentiment_spikes", description="Equals a full rebuild from gold: same flagged windows, scores "
                                                 "and top terms (reads all of gold: run on demand).")
def sentiment_spikes_matches_rebuild(context: AssetCheckExecutionContext, spark: SparkResource,
                                     lake: LakeResource) -> AssetCheckResult:
    session = spark.session()
    window, rolling = _trend_spans(context)
    rule = tables.SpikeRule(**_recorded(context, "sentiment_spikes", "rule", AggregateConfig().settings().rule.__dict__))
    gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
    expected = tables.spikes_of(session, verify.expected_trends(gold, window, rolling), gold, rule).toPandas()
    actual = session.read.format("delta").load(lake.path("sentiment_spikes")).toPandas()
    for frame in (actual, expected):
        for column in ("top_mentions", "top_hashtags"):
            frame[column] = frame[column].map(lambda v: json.dumps(list(v)))
    return _result(verify.differences(actual, expected, "window_start",
                                       ["negative", "total", "direction", "baseline_windows", "top_mentions",
                                        "top_hashtags"],
                                       ["share_negative", "baseline_share_negative", "baseline_std", "z_score"]))


AGGREGATE_CHECKS = [mention_sentiment_matches_rebuild, sentiment_trends_matches_rebuild,
                    sentiment_spikes_matches_rebuild]
verify_aggregates = define_asset_job(
    "verify_aggregates", selection=AssetSelection.checks(*AGGREGATE_CHECKS), executor_def=in_process_executor,
    description="Compares the incremental aggregate tables with a recomputation from the whole gold table.")
