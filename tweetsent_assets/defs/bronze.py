"""Bronze: the batch's landing objects as they landed, and the units that could not be parsed."""

from collections import Counter

import pandas as pd
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from ..lib.ingest.bronze_batch import (
    BRONZE_COLUMNS,
    LEDGER_COLUMNS,
    QUARANTINE_COLUMNS,
    ledger_rows,
    read_batch_objects,
)
from ..lib.ingest.manifests import read_manifest
from ..lib.lake import delta_tables
from ..lib.lake.faults import fault_point
from .hour_runs import run_hour
from .partitions import tweet_hours
from .resources import LakeResource, MicroBatchResource, ObjectStoreResource, SparkResource
from .timing import Laps, stopwatch

BRONZE_TYPES = {"record_index": "long", "ingested_at": "timestamp", "landed": "long"}


def _schema(columns) -> str:
    return ", ".join(f"`{c}` {BRONZE_TYPES.get(c, 'string')}" for c in columns)


def _pandas(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    pdf = pd.DataFrame(rows, columns=columns).astype({c: "object" for c in columns if c not in BRONZE_TYPES})
    pdf = pdf.where(pdf.notna(), None)
    if "ingested_at" in pdf:
        pdf["ingested_at"] = pd.to_datetime(pdf["ingested_at"], utc=True)
    return pdf


def _frame(spark, rows: list[dict], columns: list[str]):
    return spark.createDataFrame(_pandas(rows, columns), schema=_schema(columns))


def write_bronze(spark: SparkResource, landing: ObjectStoreResource, batch_state: ObjectStoreResource,
                 lake: LakeResource, batch_id: str, log) -> tuple[dict[str, dict], pd.DataFrame | None]:
    """Read the batch's objects (from its manifest) and replace this batch's rows in both tables.

    Returns each table's materialization metadata (the bronze asset and the stream run both call it)
    and, when the batch was new to bronze, its bronze rows as pandas: then they are all the rows
    bronze holds for it, and the stream run hands them to silver instead of reading them back.
    """
    spark.watch_stages("bronze")
    with stopwatch() as timer:
        lap = Laps()
        manifest = read_manifest(batch_state.store(), batch_id)
        batch = read_batch_objects(landing.store(), manifest)
        log.info(f"batch {batch_id}: {len(manifest['objects'])} objects, "
                 f"{len(batch.records)} records, {len(batch.quarantined)} quarantined")
        lap("read_objects")
        session = spark.session()
        lap("spark_session")
        sources = sorted({r["source_file"] for r in batch.records + batch.quarantined})
        fresh = not batch.superseded and delta_tables.batch_is_new(lake.path("bronze_tweets"), batch_id)
        written, frames = {}, {}
        for table, rows, columns in (
            ("bronze_tweets", batch.records, [*BRONZE_COLUMNS, *batch.extra_columns]),
            ("bronze_quarantine", batch.quarantined, list(QUARANTINE_COLUMNS)),
        ):
            path = lake.path(table)
            if rows:
                elsewhere = delta_tables.keys_in_other_batches(session, path, batch_id, sources)
                rows = [row for row in rows if row["record_key"] not in elsewhere]
            written[table] = len(rows)
            frames[table] = _pandas(rows, columns)
            delta_tables.replace_batch(session.createDataFrame(frames[table], schema=_schema(columns)), path,
                                       batch_id, keep_sources=batch.superseded, rows=len(rows))
        ledger_list = ledger_rows(manifest, batch)
        ledger = _frame(session, ledger_list, list(LEDGER_COLUMNS))
        delta_tables.replace_batch(ledger, lake.path("landing_ledger"), batch_id, keep_sources=batch.superseded,
                                   rows=len(ledger_list))
        fault_point("bronze_committed")
        lap("write_tables")
        bronze_state = delta_tables.describe(session, lake.path("bronze_tweets"))
        quarantine_state = delta_tables.describe(session, lake.path("bronze_quarantine"))
        lap("describe")
    reasons = Counter(q["reason"].split(":")[0] for q in batch.quarantined)
    common = {**spark.metadata(), "batch_objects": len(manifest["objects"]), "duration_s": timer["seconds"],
              "superseded_objects": len(batch.superseded)}
    return {"bronze_tweets": {
        **common, **bronze_state.metadata(), "batch_rows": written["bronze_tweets"],
        "already_in_other_batches": len(batch.records) - written["bronze_tweets"],
        "new_columns": ", ".join(batch.extra_columns) or "none",
        "step_seconds": MetadataValue.json(lap.seconds), **spark.stage_metadata(),
    }, "bronze_quarantine": {
        **common, **quarantine_state.metadata(), "batch_rows": written["bronze_quarantine"],
        "reasons": MetadataValue.json(dict(reasons)),
    }}, (frames["bronze_tweets"] if fresh else None)


@multi_asset(
    specs=[
        AssetSpec("bronze_tweets", group_name="bronze", kinds={"spark", "delta"},
                  partitions_def=tweet_hours,
                  description="Every parsed landing record as it landed, with source_file, etag and ingested_at."),
        AssetSpec("bronze_quarantine", group_name="bronze", kinds={"spark", "delta"},
                  partitions_def=tweet_hours,
                  description="Landed units that could not be parsed: raw line, source_file and reason."),
    ],
)
def bronze(context: AssetExecutionContext, spark: SparkResource, landing: ObjectStoreResource,
           batch_state: ObjectStoreResource, lake: LakeResource, micro_batching: MicroBatchResource):
    """Read each batch's objects (from its manifest) and replace the batch's rows in both tables."""
    written = run_hour(context, batch_state, lake, micro_batching, ["bronze_tweets", "bronze_quarantine"],
                       lambda batch: write_bronze(spark, landing, batch_state, lake, batch, context.log)[0])
    for key, metadata in written.items():
        yield MaterializeResult(asset_key=key, metadata=metadata)
