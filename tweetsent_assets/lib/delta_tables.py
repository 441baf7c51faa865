"""Delta writes the layers share: replace one batch, MERGE by id, and describe a table."""
from __future__ import annotations

import re
from dataclasses import dataclass

_BATCH_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True)
class TableState:
    """What a materialization reports about a Delta table after writing it."""

    path: str
    version: int
    rows: int

    def metadata(self) -> dict:
        return {"table_path": self.path, "delta_version": self.version, "table_rows": self.rows}


def table_path(lake_root: str, name: str) -> str:
    return f"{lake_root.rstrip('/')}/{name}"


def batch_predicate(batch_id: str) -> str:
    """SQL predicate selecting one batch; rejects ids that could break out of the literal."""
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id {batch_id!r} has characters outside [A-Za-z0-9_.:-]")
    return f"batch_id = '{batch_id}'"


def exists(spark, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def replace_batch(df, path: str, batch_id: str, keep_sources: list[str] = ()) -> None:
    """Overwrite only the rows of `batch_id`, adding any new columns (schema evolution).

    Rows from `keep_sources` (objects not re-read this time) stay as they are.
    """
    predicate = batch_predicate(batch_id)
    if keep_sources:
        quoted = ", ".join("'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'" for s in keep_sources)
        predicate += f" AND source_file NOT IN ({quoted})"
    (df.write.format("delta").mode("overwrite")
       .option("replaceWhere", predicate)
       .option("mergeSchema", "true")
       .save(path))


def without_keys_in_other_batches(spark, df, path: str, batch_id: str, sources: list[str]):
    """Drop rows whose record_key another batch already wrote (same object version re-listed).

    Only rows from the same source files are looked at, so the check stays proportional to the
    batch rather than to the table.
    """
    if not sources or not exists(spark, path):
        return df
    from pyspark.sql import functions as F

    earlier = (spark.read.format("delta").load(path)
               .where(F.col("source_file").isin(sources) & (F.col("batch_id") != batch_id))
               .select("record_key"))
    return df.join(earlier, "record_key", "left_anti")


def read_batch(spark, path: str, batch_id: str):
    return spark.read.format("delta").load(path).where(batch_predicate(batch_id))


def merge_by_id(spark, df, path: str, update_when: str | None = None) -> dict:
    """MERGE `df` into the table on `id` (creating it from df's schema first); returns MERGE metrics.

    `update_when` restricts which matched rows are replaced (None: all of them).
    """
    from delta.tables import DeltaTable

    if not exists(spark, path):
        df.limit(0).write.format("delta").mode("ignore").save(path)
    target = DeltaTable.forPath(spark, path)
    (target.alias("t").merge(df.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll(condition=update_when)
        .whenNotMatchedInsertAll()
        .execute())
    return last_operation_metrics(spark, path)


def overwrite(df, path: str) -> None:
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)


def last_operation_metrics(spark, path: str) -> dict:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").first()
    return {k: int(v) for k, v in (row.operationMetrics or {}).items() if str(v).isdigit()}


def describe(spark, path: str) -> TableState:
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    version = table.history(1).select("version").first().version
    return TableState(path=path, version=int(version), rows=table.toDF().count())
