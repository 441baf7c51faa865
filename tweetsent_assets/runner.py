"""Run the landing sensor's work in this process: plan batches, then execute each batch's run.

`tweetsent demo`, the tests and the benchmarks use it to drive the real sensor and job against
a real Dagster instance without a daemon; `dagster dev` does the same through its daemon.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dagster import DagsterInstance, Definitions, SensorResult, SkipReason, build_sensor_context

from .defs.partitions import tweet_batches

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class TickOutcome:
    """What one sensor tick asked for, and the runs executed for it."""

    cursor: str | None
    partition_keys: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def tick_sensor(defs: Definitions, instance: DagsterInstance, cursor: str | None) -> tuple[SensorResult | None, str | None]:
    """Evaluate new_tweet_objects once; returns its result (None when it skipped) and the new cursor."""
    sensor_def = defs.get_repository_def().get_sensor_def("new_tweet_objects")
    context = build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources,
                                   sensor_name="new_tweet_objects")
    result = sensor_def(context)
    if result is None or isinstance(result, SkipReason):
        return None, cursor
    return result, result.cursor


def run_batches(defs: Definitions, instance: DagsterInstance, result: SensorResult,
                run_config: dict | None = None) -> TickOutcome:
    """Register the requested partitions and execute each requested run in-process, then its aggregates run.

    As under the daemon, where aggregates_follow_batches requests `update_aggregates` for each
    batch whose micro-batch run succeeded.
    """
    outcome = TickOutcome(cursor=result.cursor)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(tweet_batches.name, list(request.partition_keys))
    job, aggregates = defs.resolve_job_def("ingest_tweet_batch"), defs.resolve_job_def("update_aggregates")
    for run_request in result.run_requests or []:
        partition = run_request.partition_key
        done = job.execute_in_process(instance=instance, partition_key=partition, tags=dict(run_request.tags),
                                      run_config=_config_for(job, run_config), raise_on_error=False)
        outcome.partition_keys.append(partition)
        outcome.run_ids.append(done.run_id)
        if not done.success or not aggregates.execute_in_process(
                instance=instance, partition_key=partition, run_config=_config_for(aggregates, run_config),
                raise_on_error=False).success:
            outcome.failed.append(partition)
    return outcome


def _config_for(job, run_config: dict | None) -> dict | None:
    """`run_config` with only the op config that belongs to `job` (one config serves both batch jobs)."""
    if not run_config or "ops" not in run_config:
        return run_config
    nodes = set(job.graph.node_dict)
    return {**run_config, "ops": {name: op for name, op in run_config["ops"].items() if name in nodes}}


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

    Returns each step's success; `run_config` may carry op config for any of these assets.
    """
    config = dict(run_config or {})
    ops = config.pop("ops", {})

    def run(assets: tuple[str, ...], partition: str | None = None) -> bool:
        own = {"ops": {k: v for k, v in ops.items() if k in assets}, **config}
        return _assets_job(defs, *assets).execute_in_process(
            instance=instance, partition_key=partition, run_config=own, raise_on_error=False).success

    done = {"labeled_tweets": run(("labeled_tweets",)),
            "finetuned_sentiment_model": run(("finetuned_sentiment_model",))}
    for name in candidates:
        done[f"model_evaluations[{name}]"] = run(("model_evaluations",), name)
    done["champion"] = run(("champion_decision", "champion_model"))
    return done


def rescore_gold(defs: Definitions, instance: DagsterInstance, run_config: dict | None = None) -> list[str]:
    """Re-score every batch partition of gold with the current champion; returns the partitions that failed."""
    job = defs.resolve_job_def("rescore_gold")
    partitions = instance.get_dynamic_partitions(tweet_batches.name)
    return [p for p in partitions if not job.execute_in_process(
        instance=instance, partition_key=p, run_config=run_config, raise_on_error=False).success]
