"""Asset checks: the challenger must load and predict before the alias moves; each batch reconciles across layers.

The batch checks run in verify_batches runs of their own, many batches per run, off the path to gold.
"""
from dataclasses import dataclass
from typing import Callable

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    Config,
    Failure,
    OpExecutionContext,
    asset_check,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from ..lib.lake import reconcile
from ..lib.ml.models.labels import LABELS
from .partitions import tweet_batches
from .resources import LakeResource, MlflowResource, SparkResource
from .timing import stopwatch
from .priority import take_run_priority

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


Results = dict[str, tuple[bool, dict]]


def _landing(session, path, batch_ids: list[str]) -> Results:
    found = reconcile.landing_vs_bronze_by_batch(session, path("landing_ledger"), path("bronze_tweets"),
                                                 path("bronze_quarantine"), batch_ids)
    return {b: (r.ok, r.as_dict()) for b, r in found.items()}


def _silver_ids(session, path, batch_ids: list[str]) -> Results:
    found = reconcile.duplicate_silver_ids_by_batch(session, path("silver_tweets"), batch_ids)
    return {b: (n == 0, {"duplicated_ids": n}) for b, n in found.items()}


def _coverage(session, path, batch_ids: list[str]) -> Results:
    found = reconcile.gold_vs_silver_by_batch(session, path("gold_tweet_sentiment"), path("silver_tweets"), batch_ids)
    return {b: (not any(r.values()), r) for b, r in found.items()}


def _gold_values(session, path, batch_ids: list[str]) -> Results:
    found = reconcile.invalid_gold_rows_by_batch(session, path("gold_tweet_sentiment"), batch_ids, LABELS)
    return {b: (n == 0, {"invalid_rows": n}) for b, n in found.items()}


@dataclass(frozen=True)
class BatchCheck:
    """A reconciliation check of micro-batches: the asset it is recorded on, its name, what it asserts, and how.

    `evaluate(session, lake.path, batch_ids)` answers for every batch in one pass: batch -> (passed, metadata).
    """

    asset: str
    name: str
    description: str
    evaluate: Callable[..., Results]


BATCH_CHECKS = (
    BatchCheck("bronze_tweets", "landed_equals_bronze_plus_quarantine",
               "Landed units = bronze + quarantine, each record key exactly once.", _landing),
    BatchCheck("silver_tweets", "silver_ids_unique", "Each tweet id of the batch occurs once in silver.", _silver_ids),
    BatchCheck("gold_tweet_sentiment", "gold_covers_silver",
               "After scoring, gold holds exactly silver's ids for the batch.", _coverage),
    BatchCheck("gold_tweet_sentiment", "gold_labels_and_scores_valid",
               "Every gold row has a known label and non-null scores.", _gold_values),
)


# The bronze and silver checks wait for gold, so that a job holding gold and them never delays gold.
AFTER_GOLD = ["gold_tweet_sentiment"]


def _batch_check(spec: BatchCheck):
    """The check as an @asset_check, for one batch partition (or every batch) on demand.

    Micro-batch runs leave it out: the verify_batches job records the same evaluations per batch, off the path to gold.
    """

    @asset_check(asset=spec.asset, name=spec.name, description=spec.description,
                 additional_deps=[] if spec.asset == "gold_tweet_sentiment" else AFTER_GOLD)
    def batch_check(context: AssetCheckExecutionContext, spark: SparkResource, lake: LakeResource) -> AssetCheckResult:
        batches = ([context.partition_key] if context.has_partition_key
                   else context.instance.get_dynamic_partitions(tweet_batches.name))
        results = spec.evaluate(spark.session(), lake.path, batches)
        failed = sorted(b for b, (passed, _) in results.items() if not passed)
        metadata = results[batches[0]][1] if len(batches) == 1 else {"batches": len(batches),
                                                                      "failed": ", ".join(failed) or "none"}
        return AssetCheckResult(passed=not failed, severity=AssetCheckSeverity.ERROR, metadata=metadata)

    return batch_check


batch_checks = [_batch_check(spec) for spec in BATCH_CHECKS]


class VerifyConfig(Config):
    batches: list[str] = Field(default_factory=list,
                               description="Batch partitions to verify (the verify_after_gold sensor lists those "
                                           "whose gold finished since the last run); empty: every batch")


@op(description="Runs the batch reconciliation checks for many batches at once and records each result on its "
                "batch partition; fails when any check fails.")
def reconcile_batches(context: OpExecutionContext, config: VerifyConfig, spark: SparkResource,
                      lake: LakeResource) -> None:
    take_run_priority(context)
    batches = list(dict.fromkeys(config.batches)) or context.instance.get_dynamic_partitions(tweet_batches.name)
    if not batches:
        context.log.info("no batches to verify")
        return
    session, failed = spark.session(), []
    with stopwatch() as timer:
        results = {spec.name: spec.evaluate(session, lake.path, batches) for spec in BATCH_CHECKS}
    for spec in BATCH_CHECKS:
        for batch in batches:
            passed, metadata = results[spec.name][batch]
            context.log_event(AssetCheckEvaluation(asset_key=AssetKey(spec.asset), check_name=spec.name, passed=passed,
                                                   metadata=metadata, partition=batch,
                                                   severity=AssetCheckSeverity.ERROR))
            if not passed:
                failed.append(f"{spec.name}[{batch}]")
    context.log.info(f"verified {len(batches)} batches in {timer['seconds']} s; {len(failed)} checks failed")
    if failed:
        raise Failure(description=f"{len(failed)} batch checks failed: {', '.join(failed[:20])}",
                      metadata={"failed": ", ".join(failed), "batches": len(batches)})


@job(executor_def=in_process_executor, tags={"tweetsent/kind": "verification", "dagster/priority": "0"},
     description="Reconciles the batches whose gold finished since the last verification (one Spark pass per check), "
                 "at a lower priority than the micro-batches.")
def verify_batches():
    reconcile_batches()
