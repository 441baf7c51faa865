"""Delta writes the layers share: replace one batch, MERGE by id, and describe a table."""
from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from .faults import fault_point

T = TypeVar("T")
log = logging.getLogger(__name__)
_CONFLICT_MARKERS = ("Concurrent", "DELTA_CONCURRENT", "ProtocolChanged", "DELTA_PROTOCOL_CHANGED",
                     "MetadataChanged", "DELTA_METADATA_CHANGED")

_BATCH_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True)
class TableState:
    """What a materialization reports about a Delta table after writing it."""

    path: str
    version: int
    rows: int

    def metadata(self) -> dict:
        return {"table_path": self.path, "delta_version": self.version, "table_rows": self.rows}


def is_write_conflict(exc: BaseException) -> bool:
    """Delta's optimistic-concurrency failures: another writer committed first; retrying is safe."""
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in _CONFLICT_MARKERS)


def retry_on_conflict(action: Callable[[], T], attempts: int = 6, base_delay_s: float = 0.5) -> T:
    """Run `action`, retrying with jittered exponential backoff when a concurrent commit conflicts."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not is_write_conflict(exc):
                raise
            delay = base_delay_s * 2 ** (attempt - 1) * (0.5 + random.random())
            log.warning("Delta write conflict (attempt %d/%d), retrying in %.1fs: %s",
                        attempt, attempts, delay, type(exc).__name__)
            time.sleep(delay)
    raise AssertionError("unreachable")


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
    fault_point(f"write:{_table_name(path)}")
    predicate = batch_predicate(batch_id)
    if keep_sources:
        quoted = ", ".join("'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'" for s in keep_sources)
        predicate += f" AND source_file NOT IN ({quoted})"
    retry_on_conflict(lambda: (df.write.format("delta").mode("overwrite")
                               .option("replaceWhere", predicate)
                               .option("mergeSchema", "true")
                               .save(path)))


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


def merge_by_id(spark, df, path: str, update_when: str | None = None, target_predicate: str | None = None) -> dict:
    """MERGE `df` into the table on `id` (creating it from df's schema first); returns MERGE metrics.

    `update_when` restricts which matched rows are replaced (None: all of them). `target_predicate`
    (on alias `t`) lets Delta skip target files by their statistics when the caller knows where
    matches can be, so a batch's cost does not grow with the table.
    """
    from delta.tables import DeltaTable

    if not exists(spark, path):
        retry_on_conflict(lambda: df.limit(0).write.format("delta").mode("ignore").save(path))

    def merge() -> dict:
        fault_point(f"merge:{_table_name(path)}")
        result = (DeltaTable.forPath(spark, path).alias("t").merge(
            df.alias("s"), "t.id = s.id" + (f" AND ({target_predicate})" if target_predicate else ""))
                  .whenMatchedUpdateAll(condition=update_when)
                  .whenNotMatchedInsertAll()
                  .execute())
        return _merge_metrics(result)

    metrics = retry_on_conflict(merge)
    fault_point(f"merged:{_table_name(path)}")
    return metrics


def overwrite(df, path: str) -> None:
    retry_on_conflict(lambda: df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path))


def _table_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _merge_metrics(result) -> dict:
    """MERGE's own metrics row (Delta returns one from execute()); robust to a None result."""
    if result is None:
        return {}
    row = result.first()
    return {} if row is None else {k: int(v) for k, v in row.asDict().items() if v is not None}


def describe(spark, path: str) -> TableState:
    from delta.tables import DeltaTable

    version = DeltaTable.forPath(spark, path).history(1).select("version").first().version
    rows = spark.sql(f"SELECT COUNT(*) AS n FROM delta.`{path}`").first().n
    return TableState(path=path, version=int(version), rows=int(rows))
