"""Aggregates over gold: sentiment per @mention, per time window, and the windows where negativity spikes."""

from dagster import AssetExecutionContext, AutomationCondition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field
from pyspark.sql import functions as F

from .. import settings
from ..lib import spikes
from ..lib.lake import delta_tables
from ..lib.sentiment.labels import LABELS
from .resources import LakeResource, SparkResource
from .timing import stopwatch

# Eager, but not blocked forever by one missing (e.g. failed) batch upstream.
FOLLOW_GOLD = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())


def _label_counts():
    return [F.sum(F.when(F.col("label") == label, 1).otherwise(0)).cast("long").alias(label) for label in LABELS]


@asset(deps=["gold_tweet_sentiment"], group_name="aggregates", kinds={"spark", "delta"},
       automation_condition=FOLLOW_GOLD)
def mention_sentiment(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> MaterializeResult:
    """Per @mention: negative/neutral/positive counts, total, first and last seen."""
    with stopwatch() as timer:
        session = spark.session()
        gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
        per_mention = (gold.select(F.explode("mentions").alias("mention"), "label", "created_at")
                       .groupBy("mention")
                       .agg(*_label_counts(), F.count("*").alias("total"),
                            F.min("created_at").alias("first_seen"), F.max("created_at").alias("last_seen")))
        delta_tables.overwrite(per_mention, lake.path("mention_sentiment"))
        state = delta_tables.describe(session, lake.path("mention_sentiment"))
        top = (session.read.format("delta").load(lake.path("mention_sentiment"))
               .orderBy(F.desc("total"), "mention").limit(10).toPandas())
    return MaterializeResult(metadata={
        **state.metadata(), "duration_s": timer["seconds"],
        "top_mentions": MetadataValue.md(top.to_markdown(index=False) if len(top) else "no mentions yet"),
    })


TRENDS_SCHEMA = ("window_start timestamp, window_end timestamp, "
                 + ", ".join(f"{label} long" for label in LABELS) + ", total long, "
                 + ", ".join(f"share_{label} double" for label in LABELS) + ", "
                 + ", ".join(f"rolling_share_{label} double" for label in LABELS))
SPIKES_SCHEMA = ("window_start timestamp, window_end timestamp, negative long, total long, share_negative double, "
                 "baseline_share_negative double, baseline_std double, baseline_windows long, z_score double, "
                 "direction string")


class TrendConfig(Config):
    window: str = Field(default=settings.TREND_WINDOW, description="Spark window duration, e.g. '15 minutes', '1 hour'")
    rolling: str = Field(default="24 hours", description="Span of the trailing rolling share, e.g. '6 hours'")


@asset(deps=["gold_tweet_sentiment"], group_name="aggregates", kinds={"spark", "delta"},
       automation_condition=FOLLOW_GOLD)
def sentiment_trends(context: AssetExecutionContext, config: TrendConfig, spark: SparkResource,
                     lake: LakeResource) -> MaterializeResult:
    """Count and share of each sentiment per time window, plus their trailing rolling share.

    Tweets without a parsable time are left out; windows without tweets have no row.
    """
    with stopwatch() as timer:
        session = spark.session()
        gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
        counts = (gold.where(F.col("created_at").isNotNull())
                  .groupBy(F.window("created_at", config.window).alias("w"))
                  .agg(*_label_counts(), F.count("*").alias("total"))
                  .select(F.col("w.start").alias("window_start"), F.col("w.end").alias("window_end"),
                          *LABELS, "total")).toPandas()
        trends = spikes.with_shares(counts, config.rolling)
        columns = [c.split()[0] for c in TRENDS_SCHEMA.split(", ")]
        delta_tables.overwrite(session.createDataFrame(trends[columns], TRENDS_SCHEMA), lake.path("sentiment_trends"))
        state = delta_tables.describe(session, lake.path("sentiment_trends"))
    return MaterializeResult(metadata={**state.metadata(), "duration_s": timer["seconds"],
                                       "window": config.window, "rolling": config.rolling})


class SpikeConfig(Config):
    z: float = Field(default=3.0, description="Flag windows whose negative share is more than z standard deviations "
                                              "from its rolling baseline")
    baseline: str = Field(default="24 hours", description="Span of earlier windows forming the baseline")
    min_baseline_windows: int = Field(default=6, description="Earlier windows needed before a window can be flagged")
    min_tweets: int = Field(default=10, description="Tweets a window needs to be flagged")
    two_sided: bool = Field(default=True, description="Flag drops of the negative share too, not only rises")
    top_n: int = Field(default=5, description="Top mentions and hashtags kept per flagged window")


@asset(deps=["sentiment_trends", "gold_tweet_sentiment"], group_name="aggregates", kinds={"spark", "delta"},
       automation_condition=FOLLOW_GOLD)
def sentiment_spikes(context: AssetExecutionContext, config: SpikeConfig, spark: SparkResource,
                     lake: LakeResource) -> MaterializeResult:
    """Windows whose negative share departs from its rolling baseline by more than z standard deviations.

    Each flagged window carries the top mentions and hashtags of its tweets: the "spikes during
    events" of the seed project, computed rather than eyeballed.
    """
    with stopwatch() as timer:
        session = spark.session()
        trends = session.read.format("delta").load(lake.path("sentiment_trends")).toPandas()
        found = spikes.detect_spikes(trends, config.z, config.baseline, config.min_baseline_windows,
                                     config.min_tweets, config.two_sided)
        flagged = session.createDataFrame(found, SPIKES_SCHEMA)
        gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
        for column in ("mentions", "hashtags"):
            top = spikes.window_top_terms(gold, flagged, column, config.top_n)
            flagged = (flagged.join(top, "window_start", "left")
                       .withColumn(f"top_{column}", F.coalesce(f"top_{column}", F.array().cast("array<string>"))))
        delta_tables.overwrite(flagged.orderBy("window_start"), lake.path("sentiment_spikes"))
        state = delta_tables.describe(session, lake.path("sentiment_spikes"))
        table = session.read.format("delta").load(lake.path("sentiment_spikes")).orderBy("window_start").toPandas()
    shown = table.assign(top_mentions=table.top_mentions.map(", ".join), top_hashtags=table.top_hashtags.map(", ".join))
    shown = shown[["window_start", "negative", "total", "share_negative", "baseline_share_negative", "z_score",
                   "top_mentions", "top_hashtags"]].round(3)
    return MaterializeResult(metadata={
        **state.metadata(), "duration_s": timer["seconds"], "spikes": len(table), "windows_scored": len(trends),
        "z": config.z, "baseline": config.baseline,
        "spike_windows": MetadataValue.md(shown.to_markdown(index=False) if len(shown) else "no spikes"),
    })
