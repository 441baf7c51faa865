"""The by-batch reconciliations of reconcile.py, read from local or S3 tables by `deltalake` on the driver: no Spark job.

verify_batches runs beside the micro-batches, and its Spark jobs took the cores their batches
wait for. Each function answers as its Spark form does, from the files that the batches' ids
(partition values and file statistics) leave, or returns None where `deltalake` cannot read a
table, and the caller asks Spark then.
"""
from __future__ import annotations

import pandas as pd

from . import delta_tables


def _batches(path: str, columns: list[str], batch_ids: list[str]) -> pd.DataFrame | None:
    return delta_tables.frame_from_log(path, columns, [("batch_id", "in", list(batch_ids))],
                                       lambda field: field("batch_id").isin(list(batch_ids)))


def _where_in(path: str, columns: list[str], column: str, values: list[str]) -> pd.DataFrame | None:
    if not values:
        return pd.DataFrame(columns=columns)
    return delta_tables.frame_from_log(path, columns, [(column, "in", values)],
                                       lambda field: field(column).isin(values))


def _per_batch(frame: pd.DataFrame, batch_ids: list[str]) -> dict[str, int]:
    counts = frame.groupby("batch_id").size()
    return {b: int(counts.get(b, 0)) for b in batch_ids}


def landing_counts(ledger_path: str, bronze_path: str, quarantine_path: str, batch_ids: list[str],
                   max_files: int) -> dict[str, dict[str, int]] | None:
    """Per batch: units landed (per the ledger), record keys in bronze and in quarantine, and keys found twice."""
    ledger = _batches(ledger_path, ["batch_id", "source_file", "source_etag", "landed"], batch_ids)
    if ledger is None:
        return None
    objects = (ledger.assign(landed=ledger["landed"].fillna(0).astype("int64"))
               .groupby(["batch_id", "source_file", "source_etag"], as_index=False)["landed"].max())
    files = sorted(set(objects["source_file"]))
    if len(files) > max_files:
        return None
    found = []
    for layer, path in (("b", bronze_path), ("q", quarantine_path)):
        rows = _where_in(path, ["source_file", "source_etag", "record_key"], "source_file", files)
        if rows is None:
            return None
        keys = objects[["batch_id", "source_file", "source_etag"]]
        found.append(rows.merge(keys, on=["source_file", "source_etag"])[["batch_id", "record_key"]].assign(layer=layer))
    per_key = (pd.concat(found, ignore_index=True).groupby(["batch_id", "record_key"])
               .agg(n=("layer", "size"), layer=("layer", "first")).reset_index())
    landed = objects.groupby("batch_id")["landed"].sum()
    return {b: {"landed": int(landed.get(b, 0)),
                "bronze": int(((per_key["batch_id"] == b) & (per_key["layer"] == "b")).sum()),
                "quarantine": int(((per_key["batch_id"] == b) & (per_key["layer"] == "q")).sum()),
                "dups": int(((per_key["batch_id"] == b) & (per_key["n"] > 1)).sum())}
            for b in batch_ids}


def duplicate_silver_ids(silver_path: str, batch_ids: list[str]) -> dict[str, int] | None:
    """Per batch: its ids that silver holds more than once."""
    ids = _batches(silver_path, ["id", "batch_id"], batch_ids)
    if ids is None:
        return None
    ids = ids.drop_duplicates()
    rows = _where_in(silver_path, ["id"], "id", sorted(set(ids["id"])))
    if rows is None:
        return None
    counts = rows["id"].value_counts()
    return _per_batch(ids[ids["id"].isin(set(counts[counts > 1].index))], batch_ids)


def gold_vs_silver(gold_path: str, silver_path: str, batch_ids: list[str]) -> dict[str, dict] | None:
    """Per batch: silver rows whose id the batches' gold lacks, and gold rows whose id silver lacks."""
    silver = _batches(silver_path, ["id", "batch_id"], batch_ids)
    gold = _batches(gold_path, ["id", "batch_id"], batch_ids)
    if silver is None or gold is None:
        return None
    held = _where_in(silver_path, ["id"], "id", sorted(set(gold["id"])))
    if held is None:
        return None
    missing = _per_batch(silver[~silver["id"].isin(set(gold["id"]))], batch_ids)
    extra = _per_batch(gold[~gold["id"].isin(set(held["id"]))], batch_ids)
    return {b: {"missing_in_gold": missing[b], "not_in_silver": extra[b]} for b in batch_ids}


def invalid_gold_rows(gold_path: str, batch_ids: list[str], labels: tuple[str, ...]) -> dict[str, int] | None:
    """Per batch: gold rows with an unknown label, a null score or probability, or no model version."""
    values = ["score", "p_negative", "p_neutral", "p_positive", "model_version"]
    gold = _batches(gold_path, ["batch_id", "label", *values], batch_ids)
    if gold is None:
        return None
    bad = gold["label"].isna() | ~gold["label"].isin(list(labels)) | gold[values].isna().any(axis=1)
    return _per_batch(gold[bad], batch_ids)
