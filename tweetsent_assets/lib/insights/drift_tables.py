"""The drift tables: per-batch statistics folded idempotently, window metrics updated from their sums, the baseline.

`drift_stats` holds one row per (batch, window) with the batch's statistics there; folding
batches replaces all their rows in one commit, so a re-fold replaces and never adds. The
windows the batches had or have are then summed over every batch and compared with the latest
baseline, and their `prediction_drift` rows are upserted (or deleted when no batch has tweets
there any more). Gold is read only for the batches folded. `drift_baseline` gets one row per
promotion; the newest row is the baseline, so a new champion resets it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from ..lake import delta_tables
from . import drift, tables
from .ledger import latest_version
from .sql import merge_ranges, ranges_predicate, read_where

STATS_TABLE, BASELINE_TABLE, DRIFT_TABLE = "drift_stats", "drift_baseline", "prediction_drift"
GOLD_COLUMNS = ("batch_id", "created_at", "text", "cleaned_text", "label", "score")
_STATS_TYPES = (", ".join(f"{c} long" for c in drift.COUNTS) + ", "
                + ", ".join(f"{h} array<long>" for h in drift.HISTOGRAMS))
STATS_SCHEMA = "batch_id string, window_start timestamp, window_end timestamp, " + _STATS_TYPES
BASELINE_SCHEMA = "model_version string, set_at timestamp, source_run_id string, " + _STATS_TYPES


@dataclass(frozen=True)
class Paths:
    """Where gold and the three drift tables live."""

    gold: str
    stats: str
    baseline: str
    drift: str

    @classmethod
    def under(cls, path) -> "Paths":
        """Paths from a function mapping table names to paths (LakeResource.path)."""
        return cls(gold=path("gold_tweet_sentiment"), stats=path(STATS_TABLE), baseline=path(BASELINE_TABLE),
                   drift=path(DRIFT_TABLE))


def update_batches(session, paths: Paths, batch_ids: list[str], window: str, thresholds: drift.Thresholds) -> dict:
    """Folds the batches' statistics into drift_stats, then rewrites the prediction_drift rows of the windows they moved."""
    if not batch_ids:
        raise ValueError("update_batches needs at least one batch id")
    gold = delta_tables.read_batches(session, paths.gold, batch_ids).select(*GOLD_COLUMNS).toPandas()
    stats = drift.batch_stats(gold, window)
    before = read_where(session, paths.stats, delta_tables.batches_predicate(batch_ids))
    touched = sorted(set(stats["window_start"]) | set([] if before is None else before["window_start"]))
    frame = session.createDataFrame(stats if len(stats) else [], STATS_SCHEMA)
    delta_tables.replace_batches(frame, paths.stats, batch_ids)
    version = latest_version(session, paths.stats)
    span = pd.Timedelta(window)
    held = (session.read.format("delta").option("versionAsOf", version).load(paths.stats)
            .where(ranges_predicate("window_start", merge_ranges([(t, t + span) for t in touched]))).toPandas())
    baseline = read_baseline(session, paths.baseline)
    rows = drift.window_metrics(drift.summed(held[held["window_start"].isin(touched)]), baseline, thresholds)
    gone = pd.DataFrame({"window_start": sorted(set(touched) - set(rows["window_start"]))}, dtype="datetime64[ns]")
    tables.merge_rows(session, rows, drift.DRIFT_SCHEMA, paths.drift, ["window_start"], version, gone)
    return {"batch_rows": len(gold), "rows_per_batch": gold["batch_id"].value_counts().to_dict(),
            "stats_version": version, "windows_touched": len(touched), "rows": rows,
            "baseline_version": baseline.model_version if baseline else None}


def read_baseline(session, path: str) -> drift.Baseline | None:
    """The newest baseline row (the current champion's), or None before any champion was promoted."""
    rows = read_where(session, path, "TRUE")
    return None if rows is None or rows.empty else _baseline_of(rows)


def _baseline_of(rows: pd.DataFrame) -> drift.Baseline:
    newest = rows.sort_values("set_at").iloc[-1]
    return drift.Baseline(str(newest["model_version"]),
                          {k: (list(newest[k]) if k in drift.HISTOGRAMS else int(newest[k])) for k in drift.STATS})


def write_baseline(path: str, baseline: drift.Baseline, source_run_id: str = "") -> None:
    """Appends `baseline` as the newest row of drift_baseline, with deltalake (the promoting step has no Spark)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    row = {"model_version": baseline.model_version, "set_at": datetime.now(timezone.utc),
           "source_run_id": source_run_id, **baseline.stats}
    fields = [pa.field("model_version", pa.string()), pa.field("set_at", pa.timestamp("us", tz="UTC")),
              pa.field("source_run_id", pa.string()),
              *(pa.field(c, pa.int64()) for c in drift.COUNTS),
              *(pa.field(h, pa.list_(pa.int64())) for h in drift.HISTOGRAMS)]
    uri, options = delta_tables.delta_rs_location(path)
    write_deltalake(uri, pa.Table.from_pylist([row], schema=pa.schema(fields)), mode="append",
                    storage_options=options)
