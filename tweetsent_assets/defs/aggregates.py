"""Aggregates over gold: sentiment per @mention and per time window."""

from dagster import AssetExecutionContext, AutomationCondition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field
from pyspark.sql import functions as F

from .. import settings
from ..lib import delta_tables
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


class TrendConfig(Config):
    window: str = Field(default=settings.TREND_WINDOW, description="Spark window duration, e.g. '15 minutes', '1 hour'")


@asset(deps=["gold_tweet_sentiment"], group_name="aggregates", kinds={"spark", "delta"},
       automation_condition=FOLLOW_GOLD)
def sentiment_trends(context: AssetExecutionContext, config: TrendConfig, spark: SparkResource,
                     lake: LakeResource) -> MaterializeResult:
    """Counts of each sentiment per time window (tweets without a parsable time are left out)."""
    with stopwatch() as timer:
        session = spark.session()
        gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
        trends = (gold.where(F.col("created_at").isNotNull())
                  .groupBy(F.window("created_at", config.window).alias("w"))
                  .agg(*_label_counts(), F.count("*").alias("total"))
                  .select(F.col("w.start").alias("window_start"), F.col("w.end").alias("window_end"),
                          *LABELS, "total"))
        delta_tables.overwrite(trends, lake.path("sentiment_trends"))
        state = delta_tables.describe(session, lake.path("sentiment_trends"))
    return MaterializeResult(metadata={**state.metadata(), "duration_s": timer["seconds"],
                                       "window": config.window})
