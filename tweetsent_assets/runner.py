"""Run the landing sensor's work in this process: plan batches, then execute each batch's run.

`tweetsent demo`, the tests and the benchmarks use it to drive the real sensor and job against
a real Dagster instance without a daemon; `dagster dev` does the same through its daemon.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from dagster import DagsterInstance, Definitions, SensorResult, SkipReason, build_sensor_context

from .defs.partitions import BATCH_TAG
from .lib.ingest.hours import by_hour
from .lib.ingest.manifests import manifested_batches

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class TickOutcome:
    """What one sensor tick asked for, and the runs executed for it: the batches run, and those that failed."""

    cursor: str | None
    batches: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def tick_sensor(defs: Definitions, instance: DagsterInstance, cursor: str | None) -> tuple[SensorResult | None, str | None]:
    """Evaluate new_tweet_objects until it hands out nothing more; returns the merged result (None: nothing new).

    The caller executes the runs itself, one after another, so backpressure is lifted here (runs
    of other processes, or stale ones a crash left as started, never hold objects back): every
    new object ends up in one of the planned batches, each within the caps.
    """
    sensor_def = defs.get_repository_def().get_sensor_def("new_tweet_objects")
    micro_batching = defs.resources["micro_batching"]
    settings = {name: getattr(micro_batching, name) for name in type(micro_batching).model_fields}
    unqueued = {**defs.resources, "micro_batching": type(micro_batching)(**{**settings, "max_queued_runs": 10**6,
                                                                                    "mode": "runs"})}
    requests = []
    while True:
        context = build_sensor_context(instance=instance, cursor=cursor, resources=unqueued,
                                       sensor_name="new_tweet_objects")
        result = sensor_def(context)
        if isinstance(result, SensorResult) and result.cursor:
            cursor = result.cursor
        if result is None or isinstance(result, SkipReason) or not result.run_requests:
            break
        requests += result.run_requests
    if not requests:
        return None, cursor
    return SensorResult(run_requests=requests, cursor=cursor), cursor


def run_batches(defs: Definitions, instance: DagsterInstance, result: SensorResult,
                run_config: dict | None = None, on_batch: Callable[[str], None] | None = None) -> TickOutcome:
    """Execute each requested batch run in-process (its hour partition, its batch tag), then one fold and one
    verification.

    As under the daemon, where fold_after_gold and verify_after_gold request `fold_aggregates` and
    `verify_batches` for the batches whose gold finished. A batch counts as failed when its run, the
    fold or one of its checks failed.
    """
    outcome = TickOutcome(cursor=result.cursor)
    job = defs.resolve_job_def("ingest_tweet_batch")
    for run_request in result.run_requests or []:
        batch = run_request.tags[BATCH_TAG]
        done = job.execute_in_process(instance=instance, partition_key=run_request.partition_key,
                                      tags=dict(run_request.tags), run_config=_config_for(job, run_config),
                                      raise_on_error=False)
        outcome.batches.append(batch)
        outcome.run_ids.append(done.run_id)
        if not done.success:
            outcome.failed.append(batch)
        if on_batch is not None:
            on_batch(batch)
    outcome.failed += follow_up(defs, instance, [b for b in outcome.batches if b not in outcome.failed], run_config)
    return outcome


def follow_up(defs: Definitions, instance: DagsterInstance, scored: list[str],
              run_config: dict | None = None) -> list[str]:
    """One fold and one verification of the hours of the batches whose gold was just written, as the follow-up
    sensors would request them; returns `scored` when either failed, else nothing."""
    if scored and not (fold_finished(defs, instance, run_config)
                       and verify_finished(defs, instance, list(by_hour(scored)), run_config)):
        return scored
    return []


def fold_finished(defs: Definitions, instance: DagsterInstance, run_config: dict | None = None) -> bool:
    """One fold_aggregates run: every batch whose gold is newer than its fold."""
    job = defs.resolve_job_def("fold_aggregates")
    return job.execute_in_process(instance=instance, run_config=_config_for(job, run_config),
                                  raise_on_error=False).success


def verify_finished(defs: Definitions, instance: DagsterInstance, hours: list[str],
                    run_config: dict | None = None) -> bool:
    """One verify_batches run over `hours`; False when any of their checks failed."""
    config = {**{k: v for k, v in (run_config or {}).items() if k != "ops"},
              "ops": {"reconcile_batches": {"config": {"hours": hours}}}}
    return defs.resolve_job_def("verify_batches").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False).success


# Op config written for the partitioned aggregates asset also configures the fold of many batches.
_SAME_CONFIG = {"fold_finished_batches": "aggregates", "fold_drift_batches": "prediction_drift"}


def _config_for(job, run_config: dict | None) -> dict | None:
    """`run_config` with only the op config that belongs to `job` (one config serves every batch job)."""
    if not run_config or "ops" not in run_config:
        return run_config
    ops = run_config["ops"]
    ops = {**ops, **{name: ops[alias] for name, alias in _SAME_CONFIG.items() if alias in ops and name not in ops}}
    nodes = set(job.graph.node_dict)
    return {**run_config, "ops": {name: op for name, op in ops.items() if name in nodes}}


def process_new_objects(defs: Definitions, instance: DagsterInstance, cursor: str | None,
                        run_config: dict | None = None) -> TickOutcome:
    """One tick plus its runs; an empty outcome when nothing new has landed."""
    result, new_cursor = tick_sensor(defs, instance, cursor)
    if result is None:
        return TickOutcome(cursor=new_cursor)
    return run_batches(defs, instance, result, run_config)


def refresh_aggregates(defs: Definitions, instance: DagsterInstance, run_config: dict | None = None) -> bool:
    job = defs.resolve_job_def("refresh_aggregates")
    return job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False).success


def _assets_job(defs: Definitions, *assets: str):
    from dagster import AssetKey

    return defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={AssetKey(a) for a in assets})


def select_champion(defs: Definitions, instance: DagsterInstance, candidates: list[str],
                    run_config: dict | None = None) -> dict[str, bool]:
    """labeled_tweets → finetuned model → each candidate's evaluation → decision (+ blocking check) → champion.

    Returns each step's success; `run_config` may carry op config for any of these assets. When labeled_tweets
    fails (a bad training split), nothing follows, so no version is registered from an older table.
    """
    config = dict(run_config or {})
    ops = config.pop("ops", {})

    def run(assets: tuple[str, ...], partition: str | None = None) -> bool:
        own = {"ops": {k: v for k, v in ops.items() if k in assets}, **config}
        return _assets_job(defs, *assets).execute_in_process(
            instance=instance, partition_key=partition, run_config=own, raise_on_error=False).success

    done = {"labeled_tweets": run(("labeled_tweets",))}
    if not done["labeled_tweets"]:
        return done
    done["finetuned_sentiment_model"] = run(("finetuned_sentiment_model",))
    for name in candidates:
        done[f"model_evaluations[{name}]"] = run(("model_evaluations",), name)
    done["champion"] = run(("champion_decision", "champion_model"))
    return done


def rescore_gold(defs: Definitions, instance: DagsterInstance, run_config: dict | None = None) -> list[str]:
    """Re-score every hour of gold that has batches with the current champion, one run per hour (each refolds its
    hour's aggregates), then verify them; returns the hours that failed."""
    job = defs.resolve_job_def("rescore_gold")
    hours = list(by_hour(manifested_batches(defs.resources["batch_state"].store())))
    failed = [h for h in hours if not job.execute_in_process(
        instance=instance, partition_key=h, run_config=run_config, raise_on_error=False).success]
    done = [h for h in hours if h not in failed]
    return failed + (done if done and not verify_finished(defs, instance, done, run_config) else [])
