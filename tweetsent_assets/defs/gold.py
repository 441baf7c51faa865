"""Gold: silver rows scored by the current sentiment model, merged on id."""

from dagster import AssetExecutionContext, AssetSelection, AutomationCondition, MaterializeResult, MetadataValue, asset
from pyspark.sql import functions as F

from ..lib import delta_tables
from ..lib.inference import SCORE_SCHEMA, make_scorer
from .partitions import tweet_batches
from .resources import LakeResource, MlflowResource, SentimentModelResource, SparkResource
from .timing import stopwatch

# Follows silver and re-scores when the champion changes; a missing champion (none promoted yet) does not block.
FOLLOW_SILVER_AND_CHAMPION = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()) & \
    ~AutomationCondition.any_deps_missing().ignore(AssetSelection.assets("champion_model"))

GOLD_CONTEXT_COLUMNS = ("id", "batch_id", "created_at", "user", "text", "cleaned_text", "mentions",
                        "hashtags", "lang", "given_sentiment")


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
    executors load the model once per Python worker. A new champion re-scores every partition.
    """
    batch_id = context.partition_key
    spec = sentiment_model.spec(mlflow)
    with stopwatch() as timer:
        session = spark.session()
        silver = delta_tables.read_batch(session, lake.path("silver_tweets"), batch_id)
        silver = silver.select(*GOLD_CONTEXT_COLUMNS)
        scores = silver.select("id", "cleaned_text").mapInPandas(make_scorer(spec), SCORE_SCHEMA)
        gold = (silver.join(scores, "id")
                .withColumn("scored_at", F.current_timestamp())).cache()
        scored = gold.count()
        label_counts = {r["label"]: r["count"] for r in gold.groupBy("label").count().collect()}
        delta_tables.merge_by_id(session, gold, lake.path("gold_tweet_sentiment"))
        state = delta_tables.describe(session, lake.path("gold_tweet_sentiment"))
        gold.unpersist()
    tweets_per_s = scored / timer["seconds"] if timer["seconds"] else 0.0
    context.log.info(f"batch {batch_id}: scored {scored} tweets with {spec.name} ({tweets_per_s:.1f} tweets/s)")
    return MaterializeResult(metadata={
        **state.metadata(), "duration_s": timer["seconds"], "batch_rows": scored,
        "model_name": spec.name, "model_version": spec.version or "unversioned",
        "labels": MetadataValue.json(label_counts), "tweets_per_s": round(tweets_per_s, 1),
    })
