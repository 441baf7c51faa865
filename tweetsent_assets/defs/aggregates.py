"""Aggregates over gold, kept up to date batch by batch: per @mention, per time window, and negativity spikes.

Every asset here is partitioned like gold: materializing partition b folds batch b's contribution
into the tables (aggregate_ledgers), then updates only the mentions and windows b touched. They
run in the micro-batch job right after gold, so their cost per batch does not grow with history.
The `refresh_aggregates` job rebuilds everything from gold; the checks compare with such a rebuild.
"""
import json

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AutomationCondition,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
    asset_check,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from .. import settings
from ..lib import delta_tables
from ..lib.insights import ledger as ledgers
from ..lib.insights import rebuild, tables
from .partitions import tweet_batches
from .resources import LakeResource, SparkResource
from .timing import Laps, stopwatch

FOLLOW_BATCH = AutomationCondition.eager()
# For assets that read all of gold (EDA, active learning): eager, but not blocked forever by one
# missing (e.g. failed) batch upstream; the follow_upstream sensor's interval throttles them.
FOLLOW_GOLD = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())


class LedgerConfig(Config):
    window: str = Field(default=settings.TREND_WINDOW,
                        description="Time window of the window ledger and sentiment_trends, e.g. '15 minutes', "
                                    "'1 hour'; changing it needs a refresh_aggregates rebuild")


class TrendConfig(Config):
    rolling: str = Field(default="24 hours", description="Span of the trailing rolling share, e.g. '6 hours'")


class SpikeConfig(Config):
    z: float = Field(default=3.0, description="Flag windows whose negative share is more than z standard deviations "
                                              "from its rolling baseline")
    baseline: str = Field(default="24 hours", description="Span of earlier windows forming the baseline")
    min_baseline_windows: int = Field(default=6, description="Earlier windows needed before a window can be flagged")
    min_tweets: int = Field(default=10, description="Tweets a window needs to be flagged")
    two_sided: bool = Field(default=True, description="Flag drops of the negative share too, not only rises")
    top_n: int = Field(default=5, description="Top mentions and hashtags kept per flagged window")

    def rule(self) -> tables.SpikeRule:
        return tables.SpikeRule(z=self.z, baseline=self.baseline, min_baseline_windows=self.min_baseline_windows,
                                min_tweets=self.min_tweets, two_sided=self.two_sided, top_n=self.top_n)


class RebuildConfig(LedgerConfig, TrendConfig, SpikeConfig):
    """Everything a full rebuild needs: the window, the rolling span and the spike rule."""


@asset(deps=["gold_tweet_sentiment"], partitions_def=tweet_batches, group_name="aggregates",
       kinds={"spark", "delta"}, automation_condition=FOLLOW_BATCH)
def aggregate_ledgers(context: AssetExecutionContext, config: LedgerConfig, spark: SparkResource,
                      lake: LakeResource) -> MaterializeResult:
    """The batch's partial counts per @mention and per time window, folded into the running totals.

    One MERGE per ledger replaces the batch's previous contribution (a re-run or a re-score) and
    moves the totals by the difference; see lib/insights/ledger.py.
    """
    batch_id = context.partition_key
    lap = Laps()
    with stopwatch() as timer:
        session = spark.session()
        gold = delta_tables.read_batch(session, lake.path("gold_tweet_sentiment"), batch_id).cache()
        ledgers.fold_batch(session, lake.path(ledgers.MENTIONS.table), ledgers.MENTIONS, batch_id,
                           ledgers.mention_partials(gold))
        lap("mentions")
        ledgers.fold_batch(session, lake.path(ledgers.WINDOWS.table), ledgers.WINDOWS, batch_id,
                           ledgers.window_partials(gold, config.window))
        lap("windows")
        gold.unpersist()
    return MaterializeResult(metadata={"duration_s": timer["seconds"], "window": config.window,
                                       "step_seconds": MetadataValue.json(lap.seconds)})


@asset(deps=[aggregate_ledgers], partitions_def=tweet_batches, group_name="aggregates",
       kinds={"spark", "delta"}, automation_condition=FOLLOW_BATCH)
def mention_sentiment(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> MaterializeResult:
    """Per @mention: negative/neutral/positive counts, total, first and last seen (the batch's mentions updated)."""
    with stopwatch() as timer:
        session = spark.session()
        touched = tables.update_mentions(session, lake.path(ledgers.MENTIONS.table), lake.path("mention_sentiment"),
                                         context.partition_key)
        state = delta_tables.describe(session, lake.path("mention_sentiment"))
    return MaterializeResult(metadata={**state.metadata(), "duration_s": timer["seconds"],
                                       "mentions_updated": touched})


@asset(deps=[aggregate_ledgers], partitions_def=tweet_batches, group_name="aggregates",
       kinds={"spark", "delta"}, automation_condition=FOLLOW_BATCH)
def sentiment_trends(context: AssetExecutionContext, config: TrendConfig, spark: SparkResource,
                     lake: LakeResource) -> MaterializeResult:
    """Count and share of each sentiment per time window, plus their trailing rolling share.

    Only the windows the batch touched and those within `rolling` after them are rewritten.
    Tweets without a parsable time are left out; windows without tweets have no row.
    """
    with stopwatch() as timer:
        session = spark.session()
        touched = tables.touched_windows(session, lake.path(ledgers.WINDOWS.table), context.partition_key)
        updated = tables.update_trends(session, lake.path(ledgers.WINDOWS.table), lake.path("sentiment_trends"),
                                       touched, config.rolling)
        state = delta_tables.describe(session, lake.path("sentiment_trends"))
    return MaterializeResult(metadata={**state.metadata(), "duration_s": timer["seconds"], "rolling": config.rolling,
                                       "windows_touched": len(touched), "windows_updated": updated})


@asset(deps=[sentiment_trends, "gold_tweet_sentiment"], partitions_def=tweet_batches, group_name="aggregates",
       kinds={"spark", "delta"}, automation_condition=FOLLOW_BATCH)
def sentiment_spikes(context: AssetExecutionContext, config: SpikeConfig, spark: SparkResource,
                     lake: LakeResource) -> MaterializeResult:
    """Windows whose negative share departs from its rolling baseline by more than z standard deviations.

    Each flagged window carries the top mentions and hashtags of its tweets: the "spikes during
    events" of the seed project, computed rather than eyeballed. Only the windows whose baseline
    includes a window the batch touched are re-scored.
    """
    with stopwatch() as timer:
        session = spark.session()
        touched = tables.touched_windows(session, lake.path(ledgers.WINDOWS.table), context.partition_key)
        done = tables.update_spikes(session, lake.path("sentiment_trends"), lake.path("gold_tweet_sentiment"),
                                    lake.path("sentiment_spikes"), touched, config.rule())
        state = delta_tables.describe(session, lake.path("sentiment_spikes"))
    return MaterializeResult(metadata={**state.metadata(), "duration_s": timer["seconds"], **done,
                                       "spikes": state.rows, "rule": MetadataValue.json(config.rule().__dict__)})


@op(description="Rebuilds the aggregate ledgers and the mention, trend and spike tables from the whole gold table.")
def rebuild_aggregates(context: OpExecutionContext, config: RebuildConfig, spark: SparkResource,
                       lake: LakeResource) -> None:
    with stopwatch() as timer:
        done = rebuild.rebuild_all(spark.session(), rebuild.Paths.under(lake.path), config.window, config.rolling,
                                   config.rule())
    context.log.info(f"rebuilt the aggregates from gold in {timer['seconds']} s ({done['windows']} windows)")


@job(executor_def=in_process_executor,
     description="Full rebuild of the aggregates from gold (after a change of window, or to repair).")
def refresh_aggregates():
    rebuild_aggregates()


def _recorded(context: AssetCheckExecutionContext, asset_name: str, key: str, default):
    """A setting as the asset's latest materialization recorded it (its default before any)."""
    event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return metadata[key].value if key in metadata else default


def _result(diff: dict) -> AssetCheckResult:
    passed = not (diff["missing"] or diff["extra"] or diff["different"])
    return AssetCheckResult(passed=passed, metadata={**{k: v for k, v in diff.items() if k != "examples"},
                                                     "examples": ", ".join(diff["examples"]) or "none"})


@asset_check(asset=mention_sentiment, description="Equals a full rebuild from gold: same mentions, counts, "
                                                  "first and last seen (reads all of gold: run on demand).")
def mention_sentiment_matches_rebuild(context: AssetCheckExecutionContext, spark: SparkResource,
                                      lake: LakeResource) -> AssetCheckResult:
    session = spark.session()
    actual = session.read.format("delta").load(lake.path("mention_sentiment")).toPandas()
    expected = rebuild.expected_mentions(session.read.format("delta").load(lake.path("gold_tweet_sentiment")))
    return _result(rebuild.differences(actual, expected, "mention", [*ledgers.COUNTS, *ledgers.EXTREMES]))


@asset_check(asset=sentiment_trends, description="Equals a full rebuild from gold: same windows, counts, shares "
                                                 "and rolling shares (reads all of gold: run on demand).")
def sentiment_trends_matches_rebuild(context: AssetCheckExecutionContext, spark: SparkResource,
                                     lake: LakeResource) -> AssetCheckResult:
    session = spark.session()
    window = _recorded(context, "aggregate_ledgers", "window", settings.TREND_WINDOW)
    rolling = _recorded(context, "sentiment_trends", "rolling", TrendConfig().rolling)
    actual = session.read.format("delta").load(lake.path("sentiment_trends")).toPandas()
    expected = rebuild.expected_trends(session.read.format("delta").load(lake.path("gold_tweet_sentiment")),
                                       window, rolling)
    shares = [c for c in tables.columns(tables.TRENDS_SCHEMA) if "share" in c]
    return _result(rebuild.differences(actual, expected, "window_start", ["window_end", *ledgers.COUNTS], shares))


@asset_check(asset=sentiment_spikes, description="Equals a full rebuild from gold: same flagged windows, scores "
                                                 "and top terms (reads all of gold: run on demand).")
def sentiment_spikes_matches_rebuild(context: AssetCheckExecutionContext, spark: SparkResource,
                                     lake: LakeResource) -> AssetCheckResult:
    session = spark.session()
    window = _recorded(context, "aggregate_ledgers", "window", settings.TREND_WINDOW)
    rolling = _recorded(context, "sentiment_trends", "rolling", TrendConfig().rolling)
    rule = tables.SpikeRule(**_recorded(context, "sentiment_spikes", "rule", SpikeConfig().rule().__dict__))
    gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
    expected = tables.spikes_of(session, rebuild.expected_trends(gold, window, rolling), gold, rule).toPandas()
    actual = session.read.format("delta").load(lake.path("sentiment_spikes")).toPandas()
    for frame in (actual, expected):
        for column in ("top_mentions", "top_hashtags"):
            frame[column] = frame[column].map(lambda v: json.dumps(list(v)))
    return _result(rebuild.differences(actual, expected, "window_start",
                                       ["negative", "total", "direction", "baseline_windows", "top_mentions",
                                        "top_hashtags"],
                                       ["share_negative", "baseline_share_negative", "baseline_std", "z_score"]))


AGGREGATE_CHECKS = [mention_sentiment_matches_rebuild, sentiment_trends_matches_rebuild,
                    sentiment_spikes_matches_rebuild]
