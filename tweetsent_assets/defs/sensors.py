"""Sensors: new landing objects start the stream run or become micro-batch runs; finished gold batches get folded and
verified."""

import time
from datetime import timedelta

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from .. import settings
from ..lib.ingest.batching import ListingCursor, advance_cursor, find_new_objects, plan_batches
from ..lib.ingest.hours import BadBatchKey, hour_of
from ..lib.ingest.manifests import MANIFEST_DIR, manifested_batches, manifested_objects, write_manifest
from ..lib.ingest.stream_state import read_cursor
from ..lib.lake.delta_tables import batches_held
from .aggregates import fold_aggregates
from .backpressure import room
from .checks import verify_batches
from .jobs import MICRO_BATCH_TAGS, ingest_tweet_batch
from .partitions import BATCH_TAG
from .priority import FOLLOW_UP_TAGS
from .resources import LakeResource, MicroBatchResource, MlflowResource, ObjectStoreResource, SentimentModelResource
from .stream import stream_tweet_batches

GOLD = AssetKey("gold_tweet_sentiment")


@sensor(
    jobs=[ingest_tweet_batch, stream_tweet_batches],
    minimum_interval_seconds=settings.SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="In stream mode (the default) it keeps one stream run going: from the start, or with "
                "TWEETSENT_STREAM_IDLE_S set, whenever new objects wait. In runs mode it lists the landing prefix "
                "and new objects (by key and etag) become micro-batch runs: at most "
                "micro_batching.max_queued_runs wait behind the running one; meanwhile new objects wait, and the "
                "next batch takes all of them up to max_batch_bytes and max_objects_per_batch.",
)
def new_tweet_objects(context: SensorEvaluationContext, landing: ObjectStoreResource,
                      batch_state: ObjectStoreResource, micro_batching: MicroBatchResource,
                      sentiment_model: SentimentModelResource, mlflow: MlflowResource, lake: LakeResource):
    """Write each new batch's manifest, then request its run once, in its hour partition (champion pinned)."""
    if micro_batching.mode == "stream":
        return _start_stream(context, landing, batch_state, micro_batching, sentiment_model, mlflow)
    lookback = timedelta(seconds=micro_batching.lookback_seconds)
    cursor, recovered, unrun = _cursor_or_manifests(context, batch_state, lake)
    listing = [o for o in landing.store().list() if not o.key.startswith(f"{MANIFEST_DIR}/")]
    new = find_new_objects(listing, cursor, lookback)
    pinned = _pinned_model(context, sentiment_model, mlflow) if new or unrun else {}
    redo = [_batch_request(key, None, pinned) for key in unrun]
    if redo:
        context.log.info(f"{len(redo)} batches have a manifest but never reached bronze: requesting them again")
    if not new:
        return _skip(f"{recovered}no new objects among {len(listing)} under {landing.url}", cursor, recovered, redo)
    runs = room(context.instance, ingest_tweet_batch.name, micro_batching.runs_at_once(context.instance),
                micro_batching.max_queued_runs)
    if not runs.free:
        return _skip(f"{recovered}{runs.why_full()}; {len(new)} new objects ({sum(o.size for o in new):,} bytes) "
                     "wait for the next batch", cursor, recovered, redo)
    batches = plan_batches(new, micro_batching.max_objects_per_batch, micro_batching.max_batch_bytes,
                           limit=min(runs.free, micro_batching.max_batches_per_tick))
    taken = [o for b in batches for o in b.objects]
    state = batch_state.store()
    for batch in batches:
        write_manifest(state, batch)
    context.log.info(f"{len(taken)} of {len(new)} new objects -> {len(batches)} batches")
    return SensorResult(run_requests=[*redo, *(_batch_request(b.key, b, pinned) for b in batches)],
                        cursor=advance_cursor(cursor, taken, lookback).encode())


def _batch_request(key: str, batch, pinned: dict[str, str]) -> RunRequest:
    """The run of one micro-batch: its hour partition, the batch named by the tweetsent/batch tag."""
    sizes = {"tweetsent/objects": str(len(batch.objects)),
             "tweetsent/bytes": str(sum(o.size for o in batch.objects))} if batch is not None else {}
    return RunRequest(run_key=key, partition_key=hour_of(key), job_name=ingest_tweet_batch.name,
                      tags={BATCH_TAG: key, **MICRO_BATCH_TAGS, **sizes, **pinned})


def _start_stream(context: SensorEvaluationContext, landing: ObjectStoreResource, batch_state: ObjectStoreResource,
                  micro_batching: MicroBatchResource, sentiment_model: SentimentModelResource,
                  mlflow: MlflowResource) -> SkipReason | RunRequest:
    """One stream run whenever none is queued or running: at once for a standing stream (STREAM_IDLE_S 0), else when
    new objects wait (the stream's cursor says what is new). After a failure, run retries restart it first."""
    runs = room(context.instance, stream_tweet_batches.name, slots=1, depth=0)
    if runs.running or runs.waiting:
        return SkipReason(f"the stream run ({runs.running} running, {runs.waiting} queued) takes new objects")
    last = context.instance.get_run_records(RunsFilter(job_name=stream_tweet_batches.name), limit=1)
    if last and last[0].dagster_run.status == DagsterRunStatus.FAILURE and last[0].end_time and \
            time.time() - last[0].end_time < settings.STREAM_RESTART_AFTER_S:
        return SkipReason(f"stream run {last[0].dagster_run.run_id} failed; run retries restart it, or this sensor "
                          f"{settings.STREAM_RESTART_AFTER_S:.0f} s after the failure")
    waiting = ""
    if settings.STREAM_IDLE_S:
        state = batch_state.store()
        cursor = read_cursor(state) or ListingCursor(None, manifested_objects(state))
        listing = [o for o in landing.store().list() if not o.key.startswith(f"{MANIFEST_DIR}/")]
        new = find_new_objects(listing, cursor, timedelta(seconds=micro_batching.lookback_seconds))
        if not new:
            return SkipReason(f"no new objects among {len(listing)} under {landing.url}")
        waiting = f"; {len(new)} new objects"
    count = context.instance.get_runs_count(RunsFilter(job_name=stream_tweet_batches.name))
    context.log.info(f"starting stream run {count + 1}{waiting}")
    return RunRequest(run_key=f"stream-{count + 1}", job_name=stream_tweet_batches.name,
                      tags=_pinned_model(context, sentiment_model, mlflow))


def _cursor_or_manifests(context: SensorEvaluationContext, batch_state: ObjectStoreResource,
                         lake: LakeResource) -> tuple[ListingCursor, str, list[str]]:
    """The sensor's cursor; without one (a new instance, a lost or reset cursor, or ticks that failed after writing
    manifests), every object that a batch manifest holds counts as seen, so no batch is planned twice. The second
    value says so for the tick's message; the third lists the manifested batches that never reached bronze's
    landing ledger, whose runs are requested again so that their objects are not lost."""
    if context.cursor:
        return ListingCursor.decode(context.cursor), "", []
    store = batch_state.store()
    seen = manifested_objects(store)
    if not seen:
        return ListingCursor(), "", []
    batches = [b for b in manifested_batches(store) if _has_hour(context, b)]
    unrun = sorted(set(batches) - batches_held(lake.path("landing_ledger"), batches))
    context.log.info(f"no cursor: {len(seen)} objects in the batch manifests under {batch_state.url} count as done")
    return ListingCursor(None, seen), (f"no cursor, so {len(seen)} objects already in batch manifests "
                                       f"({batch_state.url}) count as done; "), unrun


def _has_hour(context: SensorEvaluationContext, batch_id: str) -> bool:
    try:
        hour_of(batch_id)
        return True
    except BadBatchKey as exc:
        context.log.warning(f"batch manifest {batch_id}.json skipped: {exc}")
        return False


def _skip(message: str, cursor: ListingCursor, recovered: str,
          redo: list[RunRequest] = ()) -> SkipReason | SensorResult:
    """A tick that plans nothing new: it requests `redo` if any; one that rebuilt its cursor from the manifests keeps
    it, so the next tick reads none."""
    if redo:
        return SensorResult(run_requests=list(redo), cursor=cursor.encode())
    return SensorResult(skip_reason=message, cursor=cursor.encode()) if recovered else SkipReason(message)


def _pinned_model(context: SensorEvaluationContext, sentiment_model: SentimentModelResource,
                  mlflow: MlflowResource) -> dict[str, str]:
    """The champion pinned as a run tag, so the run needs no MLflow client; none when the registry does not answer.

    Without the tag, gold resolves the champion itself (and fails there, naming the store, if it is still down).
    """
    try:
        return sentiment_model.pinned_tag(mlflow)
    except Exception as exc:
        context.log.warning(f"could not resolve the champion for the run tag ({type(exc).__name__}: {exc}); "
                            "gold will resolve it when it runs")
        return {}


def finished_gold(context: SensorEvaluationContext, job_name: str,
                  limit: int = 10_000) -> tuple[list[str], int | None]:
    """Hours whose gold materialized after the cursor's storage id (oldest first), and the newest such id.

    Without a cursor (a new instance, or a lost or reset one), it resumes after the gold recorded before
    `job_name`'s newest run was created, so hours that a run (or `tweetsent demo`) already took are not
    requested again.
    """
    after = int(context.cursor) if context.cursor else _resume_point(context.instance, job_name)
    records = context.instance.fetch_materializations(AssetRecordsFilter(asset_key=GOLD, after_storage_id=after),
                                                      limit=limit, ascending=True).records
    batches = list(dict.fromkeys(r.partition_key for r in records if r.partition_key))
    return batches, (records[-1].storage_id if records else None)


def _resume_point(instance, job_name: str) -> int | None:
    """The storage id of the newest gold materialization before the job's newest run; None if it never ran."""
    runs = instance.get_run_records(RunsFilter(job_name=job_name), limit=1)
    if not runs:
        return None
    before = runs[0].create_timestamp.timestamp()
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=GOLD, before_timestamp=before),
                                              limit=1, ascending=False).records
    return records[0].storage_id if records else None


@sensor(
    job=verify_batches,
    minimum_interval_seconds=settings.FOLLOW_UP_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests one verify_batches run for the hours whose gold was reported since the last request; "
                "while such a run waits in the queue, new hours wait for the next one.",
)
def verify_after_gold(context: SensorEvaluationContext):
    hours, newest = finished_gold(context, verify_batches.name)
    if not hours:
        return SkipReason("no gold reported since the last verification")
    runs = room(context.instance, verify_batches.name, slots=1, depth=1)
    if runs.waiting:
        return SkipReason(f"{runs.why_full()}; new gold in {len(hours)} hour(s) waits for the next verification")
    config = {"ops": {"reconcile_batches": {"config": {"hours": hours}}}}
    return SensorResult(run_requests=[RunRequest(run_key=f"verify-{newest}", run_config=config,
                                                 tags={"tweetsent/hours": str(len(hours)), **FOLLOW_UP_TAGS})],
                        cursor=str(newest))


@sensor(
    job=fold_aggregates,
    minimum_interval_seconds=settings.FOLD_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="When gold finishes for new batches, requests one fold_aggregates run (it folds every batch not yet "
                "folded), unless one already waits in the queue and will fold them.",
)
def fold_after_gold(context: SensorEvaluationContext):
    hours, newest = finished_gold(context, fold_aggregates.name)
    if not hours:
        return SkipReason("no gold reported since the last fold request")
    runs = room(context.instance, fold_aggregates.name, slots=1, depth=1)
    if runs.waiting:
        return SensorResult(skip_reason=f"{runs.why_full()}; it folds the new gold of {len(hours)} hour(s)",
                            cursor=str(newest))
    return SensorResult(run_requests=[RunRequest(run_key=f"fold-{newest}", tags=FOLLOW_UP_TAGS)], cursor=str(newest))


follow_upstream = AutomationConditionSensorDefinition(
    "follow_upstream",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=settings.AUTOMATION_INTERVAL_S,
    description="Evaluates the assets' AutomationConditions: gold follows silver and the champion; "
                "the interval throttles the assets that read all of gold (EDA, active learning).",
)
