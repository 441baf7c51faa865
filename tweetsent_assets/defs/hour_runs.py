"""A run of an hour partition of the batch layers: which batches it takes, and its metadata summed over them.

In runs mode each run takes the one batch its `tweetsent/batch` tag names; a run without the tag (a
backfill, a re-score, a materialization from the UI) takes every batch the hour's manifests list.
"""
from typing import Callable

from dagster import AssetExecutionContext, Failure

from ..lib.ingest.hours import hour_of
from ..lib.ingest.manifests import hour_batches
from .partitions import BATCH_TAG
from .reports import LayerReport
from .resources import ObjectStoreResource


def run_batch_tag(context: AssetExecutionContext) -> str | None:
    return context.run.tags.get(BATCH_TAG) if context.run is not None else None


def batches_of_run(context: AssetExecutionContext, batch_state: ObjectStoreResource) -> list[str]:
    """The tagged batch (which must belong to the run's hour), else every batch of the hour, oldest first."""
    hour, tagged = context.partition_key, run_batch_tag(context)
    if tagged:
        if hour_of(tagged) != hour:
            raise Failure(f"run tag {BATCH_TAG}={tagged!r} names a batch of hour {hour_of(tagged)}, "
                          f"not of the run's partition {hour}")
        return [tagged]
    batches = hour_batches(batch_state.store(), hour)
    context.log.info(f"hour {hour}: {len(batches)} batches" if batches else
                     f"hour {hour} has no batches under {batch_state.url}: nothing to do")
    return batches


def run_hour(context: AssetExecutionContext, batch_state: ObjectStoreResource, assets: list[str],
             write: Callable[[str], dict[str, dict]]) -> dict[str, dict]:
    """`write(batch)` for each batch of the run; each asset's metadata summed over them (reports.LayerReport)."""
    reports = {asset: LayerReport() for asset in assets}
    for batch in batches_of_run(context, batch_state):
        for asset, metadata in write(batch).items():
            reports[asset].add(batch, metadata)
    rescored = {"rescored": run_batch_tag(context) is None}
    return {asset: {**(report.metadata() if report.batches else {"batches": 0}), **rescored}
            for asset, report in reports.items()}
