"""A run of an hour partition of the batch layers: which batches it takes, and its metadata summed over them.

In runs mode each run takes the one batch its `tweetsent/batch` tag names; a run without the tag (a
backfill, a re-score, a materialization from the UI) takes every batch the hour's manifests list,
except the stream's batches still in flight: stamped within the lookback window and not in gold yet.
The stream finishes those itself, and two writers of one new batch could both append its new ids.
Such a run holds the stream while it rewrites each batch (lib/ingest/stream_state.py), so the
stream's appends do not keep its replaceWhere writes in conflict; the stream takes a batch between two.
"""
from datetime import datetime, timedelta, timezone
from typing import Callable

from dagster import AssetExecutionContext, Failure

from ..lib.ingest.hours import batch_time, hour_of
from ..lib.ingest.manifests import hour_batches
from ..lib.ingest.stream_state import hold_stream, release_stream
from ..lib.lake.delta_tables import batches_held
from .partitions import BATCH_TAG
from .reports import LayerReport
from .resources import LakeResource, MicroBatchResource, ObjectStoreResource


def run_batch_tag(context: AssetExecutionContext) -> str | None:
    return context.run.tags.get(BATCH_TAG) if context.run is not None else None


def batches_of_run(context: AssetExecutionContext, batch_state: ObjectStoreResource, lake: LakeResource,
                   micro_batching: MicroBatchResource) -> list[str]:
    """The tagged batch (which must belong to the run's hour), else every finished batch of the hour, oldest first."""
    hour, tagged = context.partition_key, run_batch_tag(context)
    if tagged:
        if hour_of(tagged) != hour:
            raise Failure(f"run tag {BATCH_TAG}={tagged!r} names a batch of hour {hour_of(tagged)}, "
                          f"not of the run's partition {hour}")
        return [tagged]
    batches = hour_batches(batch_state.store(), hour)
    horizon = datetime.now(timezone.utc) - timedelta(seconds=micro_batching.lookback_seconds)
    recent = [b for b in batches if batch_time(b) > horizon]
    held = batches_held(lake.path("gold_tweet_sentiment"), recent)
    in_flight = [b for b in recent if b not in held]
    if in_flight:
        context.log.info(f"hour {hour}: {len(in_flight)} recent batches are not in gold yet, left to the stream: "
                         f"{', '.join(in_flight[:5])}")
    batches = [b for b in batches if b not in in_flight]
    context.log.info(f"hour {hour}: {len(batches)} batches" if batches else
                     f"hour {hour} has no batches under {batch_state.url}: nothing to do")
    return batches


def run_hour(context: AssetExecutionContext, batch_state: ObjectStoreResource, lake: LakeResource,
             micro_batching: MicroBatchResource, assets: list[str],
             write: Callable[[str], dict[str, dict]]) -> dict[str, dict]:
    """`write(batch)` for each batch of the run; each asset's metadata summed over them (reports.LayerReport), and
    `whole_hour`: whether the run rewrote every batch of its hour (so the folds take them all again)."""
    reports = {asset: LayerReport() for asset in assets}
    whole_hour = run_batch_tag(context) is None
    store, owner = batch_state.store(), context.run_id
    for batch in batches_of_run(context, batch_state, lake, micro_batching):
        if whole_hour:
            hold_stream(store, owner)
        try:
            written = write(batch)
        finally:
            if whole_hour:
                release_stream(store, owner)
        for asset, metadata in written.items():
            reports[asset].add(batch, metadata)
    return {asset: {**(report.metadata() if report.batches else {"batches": 0}), "whole_hour": whole_hour}
            for asset, report in reports.items()}
