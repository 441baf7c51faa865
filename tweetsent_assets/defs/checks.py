"""Asset checks: the challenger must load and predict before the alias moves; gold holds valid scores."""
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from ..lib.lake import delta_tables, reconcile
from ..lib.ml.models.labels import LABELS
from .resources import LakeResource, MlflowResource, SparkResource

SMOKE_TWEETS = (
    "I love this new phone, the battery lasts forever!",
    "Worst customer service ever, still waiting two hours later.",
    "The meeting has been moved to 3pm on Thursday.",
    "@user thanks so much, you made my day :)",
    "Flight delayed again. Missed my connection. Great.",
)


@asset_check(asset="champion_decision", blocking=True,
             description="The version about to become champion loads from the registry and predicts five fixed tweets.")
def challenger_loads_and_predicts(context: AssetCheckExecutionContext, mlflow: MlflowResource) -> AssetCheckResult:
    from ..lib.ml.model_runs import DECISION_EXPERIMENT, latest_decision
    from ..lib.ml.models.loader import load_model
    from ..lib.ml.registry import version_spec

    client = mlflow.client()
    decision = latest_decision(client, mlflow.experiment_id(DECISION_EXPERIMENT))
    if decision is None or decision.get("promote") != "true":
        return AssetCheckResult(passed=True, metadata={"checked": "nothing to promote"})
    spec = version_spec(client, decision["winner_version"], mlflow.tracking_uri)
    try:
        predictions = load_model(spec).predict(list(SMOKE_TWEETS))
    except Exception as exc:
        return AssetCheckResult(passed=False, metadata={"model_uri": spec.model, "error": f"{type(exc).__name__}: {exc}"})
    sums = predictions.probabilities.sum(axis=1)
    passed = (len(predictions.labels) == len(SMOKE_TWEETS) and set(predictions.labels) <= set(LABELS)
              and bool(abs(sums - 1).max() < 1e-3))
    return AssetCheckResult(passed=passed, metadata={
        "model_uri": spec.model, "labels": ", ".join(predictions.labels),
        "scores": ", ".join(f"{s:.3f}" for s in predictions.scores)})


@asset_check(asset="gold_tweet_sentiment", description="Every gold row has a known label and non-null scores.")
def gold_labels_and_scores_valid(context: AssetCheckExecutionContext, spark: SparkResource,
                                 lake: LakeResource) -> AssetCheckResult:
    gold = spark.session().read.format("delta").load(lake.path("gold_tweet_sentiment"))
    if context.has_partition_key:
        gold = gold.where(delta_tables.batch_predicate(context.partition_key))
    label_list = ", ".join(f"'{label}'" for label in LABELS)
    bad = gold.where(f"label IS NULL OR label NOT IN ({label_list}) OR score IS NULL OR p_negative IS NULL "
                     "OR p_neutral IS NULL OR p_positive IS NULL OR model_version IS NULL").count()
    return AssetCheckResult(passed=bad == 0, severity=AssetCheckSeverity.ERROR,
                            metadata={"invalid_rows": bad})




def _batch(context: AssetCheckExecutionContext) -> str | None:
    return context.partition_key if context.has_partition_key else None


# The batch's reconciliation checks wait for gold, so that in the micro-batch run they never delay it.
AFTER_GOLD = ["gold_tweet_sentiment"]


@asset_check(asset="bronze_tweets", additional_deps=AFTER_GOLD,
             description="Landed units = bronze + quarantine, each record key exactly once.")
def landed_equals_bronze_plus_quarantine(context: AssetCheckExecutionContext, spark: SparkResource,
                                         lake: LakeResource) -> AssetCheckResult:
    result = reconcile.landing_vs_bronze(spark.session(), lake.path("landing_ledger"), lake.path("bronze_tweets"),
                                         lake.path("bronze_quarantine"), _batch(context))
    return AssetCheckResult(passed=result.ok, metadata=result.as_dict())


@asset_check(asset="silver_tweets", additional_deps=AFTER_GOLD,
             description="Each tweet id of the batch occurs once in silver.")
def silver_ids_unique(context: AssetCheckExecutionContext, spark: SparkResource, lake: LakeResource) -> AssetCheckResult:
    duplicates = reconcile.duplicate_silver_ids(spark.session(), lake.path("silver_tweets"), _batch(context))
    return AssetCheckResult(passed=duplicates == 0, metadata={"duplicated_ids": duplicates})


@asset_check(asset="gold_tweet_sentiment", description="After scoring, gold holds exactly silver's ids for the batch.")
def gold_covers_silver(context: AssetCheckExecutionContext, spark: SparkResource, lake: LakeResource) -> AssetCheckResult:
    result = reconcile.gold_vs_silver(spark.session(), lake.path("gold_tweet_sentiment"), lake.path("silver_tweets"),
                                      _batch(context))
    return AssetCheckResult(passed=not any(result.values()), metadata=result)
