"""The landing sensor: new objects become micro-batch partitions, one run each."""

from datetime import timedelta

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from .. import settings
from ..lib.ingest.batching import ListingCursor, advance_cursor, find_new_objects, plan_batches
from ..lib.ingest.manifests import MANIFEST_DIR, write_manifest
from .jobs import ingest_tweet_batch, update_aggregates
from .partitions import tweet_batches
from .resources import MicroBatchResource, ObjectStoreResource


@sensor(
    job=ingest_tweet_batch,
    minimum_interval_seconds=settings.SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists the landing prefix; new objects (by key and etag) become micro-batches of at most "
                "micro_batching.max_objects_per_batch objects, one run each.",
)
def new_tweet_objects(context: SensorEvaluationContext, landing: ObjectStoreResource,
                      batch_state: ObjectStoreResource, micro_batching: MicroBatchResource):
    """Register each new batch as a partition, write its manifest, and request its run once."""
    lookback = timedelta(seconds=micro_batching.lookback_seconds)
    cursor = ListingCursor.decode(context.cursor)
    listing = [o for o in landing.store().list() if not o.key.startswith(f"{MANIFEST_DIR}/")]
    new = find_new_objects(listing, cursor, lookback)
    if not new:
        return SkipReason(f"no new objects among {len(listing)} under {landing.url}")
    new = new[: micro_batching.max_objects_per_batch * micro_batching.max_batches_per_tick]
    batches = plan_batches(new, micro_batching.max_objects_per_batch)
    state = batch_state.store()
    for batch in batches:
        write_manifest(state, batch)
    context.log.info(f"{len(new)} new objects -> {len(batches)} batches")
    return SensorResult(
        run_requests=[RunRequest(run_key=b.key, partition_key=b.key,
                                 tags={"tweetsent/objects": str(len(b.objects))}) for b in batches],
        dynamic_partitions_requests=[tweet_batches.build_add_request([b.key for b in batches])],
        cursor=advance_cursor(cursor, new, lookback).encode(),
    )


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[ingest_tweet_batch], request_job=update_aggregates,
    default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=settings.SENSOR_INTERVAL_S,
    description="When a micro-batch run succeeds, requests the run that folds its batch into the aggregates.",
)
def aggregates_follow_batches(context: RunStatusSensorContext):
    partition = context.dagster_run.tags.get("dagster/partition")
    if partition is None:
        return SkipReason(f"run {context.dagster_run.run_id} has no batch partition")
    return RunRequest(run_key=f"aggregates-{context.dagster_run.run_id}", partition_key=partition)


follow_upstream = AutomationConditionSensorDefinition(
    "follow_upstream",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=settings.AUTOMATION_INTERVAL_S,
    description="Evaluates the assets' AutomationConditions: gold follows silver and the champion; "
                "the interval throttles the assets that read all of gold (EDA, active learning).",
)
