"""Asset checks: the challenger must load and predict before the alias moves; each hour's batches reconcile across
layers.

The batch checks run in verify_batches runs of their own, many hours per run, off the path to gold; each
evaluation is recorded on its hour partition and names the batches that failed.
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

from ..lib.ingest.hours import batch_prefix
from ..lib.lake import reconcile
from ..lib.lake.delta_tables import batches_with_prefix
from ..lib.ml.models.labels import LABELS
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


def finished_batches(path, hour: str) -> list[str]:
    """The hour's batches that every layer has finished: in bronze's landing ledger (written after bronze), and in
    gold or with no row in silver (all quarantined or duplicates). A batch still between silver and gold is left
    for the next verification, so a run in flight never fails a check."""
    prefix = batch_prefix(hour)
    in_gold = set(batches_with_prefix(path("gold_tweet_sentiment"), prefix) or [])
    in_silver = set(batches_with_prefix(path("silver_tweets"), prefix) or [])
    landed = batches_with_prefix(path("landing_ledger"), prefix) or []
    return [b for b in landed if b in in_gold or b not in in_silver]


def evaluate_hours(session, path, hours: list[str]) -> dict[str, dict[str, tuple[bool, dict]]]:
    """Check name -> hour -> (passed, metadata naming the failed batches), every check in one pass over the hours."""
    batches = {hour: finished_batches(path, hour) for hour in hours}
    every = [b for hour_batches in batches.values() for b in hour_batches]
    results = {}
    for spec in BATCH_CHECKS:
        by_batch = spec.evaluate(session, path, every) if every else {}
        results[spec.name] = {}
        for hour, hour_batches in batches.items():
            failed = [b for b in hour_batches if not by_batch[b][0]]
            metadata = {**_summed(by_batch[b][1] for b in hour_batches), "batches": len(hour_batches),
                        "failed_batches": ", ".join(failed[:50]) or "none"}
            if failed:
                metadata["first_failure"] = f"{failed[0]}: {by_batch[failed[0]][1]}"
            results[spec.name][hour] = (not failed, metadata)
    return results


def _summed(metadata) -> dict:
    """The batches' numeric check figures added up (landed, missing, duplicated ids, ...)."""
    sums: dict = {}
    for one in metadata:
        for name, value in one.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sums[name] = sums.get(name, 0) + value
    return sums


def _batch_check(spec: BatchCheck):
    """The check as an @asset_check, for one hour partition on demand.

    Micro-batch runs leave it out: the verify_batches job records the same evaluations per hour, off the path to gold.
    """

    @asset_check(asset=spec.asset, name=spec.name, description=spec.description,
                 additional_deps=[] if spec.asset == "gold_tweet_sentiment" else AFTER_GOLD)
    def batch_check(context: AssetCheckExecutionContext, spark: SparkResource, lake: LakeResource) -> AssetCheckResult:
        if not context.has_partition_key:
            raise Failure(f"{spec.name} checks one hour partition: pick an hour")
        hour = context.partition_key
        passed, metadata = evaluate_hours(spark.session(), lake.path, [hour])[spec.name][hour]
        return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.ERROR, metadata=metadata)

    return batch_check


batch_checks = [_batch_check(spec) for spec in BATCH_CHECKS]


class VerifyConfig(Config):
    hours: list[str] = Field(default_factory=list,
                             description="Hour partitions to verify, e.g. 2026-12-07-19:00 (the verify_after_gold "
                                         "sensor lists those whose gold was reported since the last run)")


@op(description="Runs the batch reconciliation checks for the finished batches of the given hours and records each "
                "result on its hour partition, naming failed batches; fails when any check fails.")
def reconcile_batches(context: OpExecutionContext, config: VerifyConfig, spark: SparkResource,
                      lake: LakeResource) -> None:
    take_run_priority(context)
    hours = sorted(set(config.hours))
    if not hours:
        context.log.info("no hours to verify")
        return
    with stopwatch() as timer:
        results = evaluate_hours(spark.session(), lake.path, hours)
    failed = []
    for spec in BATCH_CHECKS:
        for hour in hours:
            passed, metadata = results[spec.name][hour]
            context.log_event(AssetCheckEvaluation(asset_key=AssetKey(spec.asset), check_name=spec.name, passed=passed,
                                                   metadata=metadata, partition=hour,
                                                   severity=AssetCheckSeverity.ERROR))
            if not passed:
                failed.append(f"{spec.name}[{hour}]: {metadata['failed_batches']}")
    batches = sum(results[BATCH_CHECKS[0].name][h][1]["batches"] for h in hours)
    context.log.info(f"verified {batches} batches of {len(hours)} hours in {timer['seconds']} s; "
                     f"{len(failed)} checks failed")
    if failed:
        raise Failure(description=f"{len(failed)} batch checks failed: {'; '.join(failed[:20])}",
                      metadata={"failed": "; ".join(failed), "hours": len(hours)})


@job(executor_def=in_process_executor, tags={"tweetsent/kind": "verification", "dagster/priority": "0"},
     description="Reconciles the finished batches of the hours whose gold was reported since the last verification "
                 "(one Spark pass per check), at a lower priority than the micro-batches.")
def verify_batches():
    reconcile_batches()
