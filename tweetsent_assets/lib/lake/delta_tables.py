"""Delta writes the layers share: replace one batch, append or MERGE by id, describe a table.

Only DataFrame writes and SQL are used (no Python DeltaTable API), so the same code runs in-process and over
Spark Connect, where Delta's Connect plugin is not installed. Logs are read without Spark by `deltalake`
(delta-rs), for local folders and for s3a:// (credentials and endpoint from s3a.py); a read it cannot do
is logged as a warning before Spark answers instead.
"""
from __future__ import annotations

import logging
import os
import random
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, TypeVar

from . import s3a
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
    """True when `path` holds a Delta table: its log folder for a local path, delta-rs for S3, else Spark's DESCRIBE DETAIL."""
    if _is_local(path):
        log_dir = os.path.join(path.removeprefix("file://"), "_delta_log")
        return os.path.isdir(log_dir) and any(name.endswith(".json") for name in os.listdir(log_dir))
    if s3a.is_s3(path):
        from deltalake.exceptions import TableNotFoundError

        # Not DeltaTable.is_deltatable, which holds the GIL for its requests (a stall for every other thread).
        try:
            open_log(path)
            return True
        except TableNotFoundError:
            return False
        except Exception as exc:
            log.warning("deltalake could not check %s (%s); asking Spark", path, exc)
    try:
        return spark.sql(f"DESCRIBE DETAIL {sql_table(path)}").first()["format"] == "delta"
    except Exception as exc:
        if _missing_table(exc):
            return False
        raise


def sql_table(path: str) -> str:
    """`delta.`path`` for SQL; rejects paths that could break out of the quoting."""
    if "`" in path:
        raise ValueError(f"table path {path!r} contains a backtick")
    return f"delta.`{path}`"


def _missing_table(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in ("DELTA_MISSING_DELTA_TABLE", "PATH_NOT_FOUND", "is not a Delta table",
                                             "DELTA_TABLE_NOT_FOUND", "doesn't exist"))


def replace_batch(df, path: str, batch_id: str, keep_sources: list[str] = (), rows: int | None = None) -> None:
    """Write `batch_id`'s rows, replacing any it has, adding any new columns (schema evolution).

    Rows from `keep_sources` (objects not re-read this time) stay as they are. A batch the table
    has never held is a blind append (see append_batch), which skips replaceWhere's scan of the
    table's files, and an empty new batch for an existing table writes nothing (it would only add
    a commit). `rows` is df's row count when the caller knows it (else it is counted).
    """
    fault_point(f"write:{_table_name(path)}")
    predicate = batch_predicate(batch_id)
    if keep_sources:
        quoted = ", ".join("'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'" for s in keep_sources)
        predicate += f" AND source_file NOT IN ({quoted})"

    def write() -> None:
        if not keep_sources and batch_is_new(path, batch_id):
            count = df.count() if rows is None else rows
            if count or not exists(df.sparkSession, path):
                append_batch(df, path, batch_id, count)
        else:
            _replace_where(df, path, predicate)

    retry_on_conflict(write)
    fault_point(f"written:{_table_name(path)}")


def append_batch(df, path: str, batch_id: str, rows: int) -> None:
    """Append a batch the table did not hold, then confirm from the log that it holds it exactly once.

    Two runs that both saw the batch as new both append it; each then finds more rows of the batch
    than it wrote and replaces the batch with its own rows, and Delta's conflict check on those
    replaceWhere writes leaves one run's rows. This costs a log read (milliseconds) where Delta's
    idempotent-write id (`txnAppId`) cost a snapshot reconstruction job per write (about 1.5 s,
    benchmarks/delta_writes.py).
    """
    df.write.format("delta").option("mergeSchema", "true").mode("append").save(path)
    held = batch_rows_in_log(path, batch_id)
    if held != rows:
        log.warning("%s holds %s rows of batch %s after appending %d (a concurrent writer?); replacing the batch",
                    _table_name(path), held, batch_id, rows)
        retry_on_conflict(lambda: _replace_where(df, path, batch_predicate(batch_id)))


def replace_batches(df, path: str, batch_ids: list[str]) -> None:
    """Write several batches' rows in one commit, replacing every row they had (creating the table if needed)."""
    retry_on_conflict(lambda: _replace_where(df, path, batches_predicate(batch_ids)))


def _replace_where(df, path: str, predicate: str) -> None:
    df.write.format("delta").option("mergeSchema", "true").mode("overwrite").option("replaceWhere", predicate).save(path)


def batch_rows_in_log(path: str, batch_id: str) -> int | None:
    """Rows of `batch_id` per the log's file statistics; None when a file mixes it with other batches
    (or delta-rs cannot read the log), so the count cannot be known without a scan."""
    if not delta_rs_reads(path):
        return None
    import pyarrow.compute as pc

    try:
        _, files = _read_log(path)
    except Exception as exc:
        log.warning("deltalake could not read %s (%s); counting batch %s by replacing it", path, exc, batch_id)
        return None
    if not files.num_rows:
        return 0
    low, high = files.column("min.batch_id"), files.column("max.batch_id")
    covers = pc.and_(pc.less_equal(low, batch_id), pc.greater_equal(high, batch_id))
    mine = files.filter(pc.fill_null(covers, True))
    if not mine.num_rows:
        return 0
    exact = pc.and_(pc.equal(mine.column("min.batch_id"), batch_id), pc.equal(mine.column("max.batch_id"), batch_id))
    if not pc.all(pc.fill_null(exact, False)).as_py():
        return None
    return int(pc.sum(mine.column("num_records")).as_py() or 0)


def batch_is_new(path: str, batch_id: str) -> bool:
    """True only when a local or S3 table provably holds no row and no write of `batch_id`.

    Read from the Delta log with `deltalake`: no idempotent write by the batch, and no file whose
    batch_id statistics could include it (tables written before the txn ids count too). Other
    remote tables, and any doubt, answer False, which means a replaceWhere.
    """
    if not delta_rs_reads(path):
        return False
    import pyarrow.compute as pc
    from deltalake.exceptions import TableNotFoundError

    try:
        table, files = _read_log(path)
        if table.transaction_version(_batch_txn_id(batch_id)) is not None:
            return False
        if not files.num_rows:
            return True
        low, high = files.column("min.batch_id"), files.column("max.batch_id")
    except TableNotFoundError:
        return True
    except Exception as exc:
        log.warning("deltalake could not read %s (%s); replacing batch %s rather than appending it", path, exc, batch_id)
        return False
    if low.null_count or high.null_count:
        return False
    covers = pc.and_(pc.less_equal(low, batch_id), pc.greater_equal(high, batch_id))
    return not pc.any(covers).as_py()


def _batch_txn_id(batch_id: str) -> str:
    """The idempotent-write id that earlier versions tagged batch appends with; batch_is_new still honours it."""
    return f"tweetsent-batch:{batch_id}"


def _is_local(path: str) -> bool:
    """A folder path (or file://), which the `deltalake` package reads without credentials."""
    return "://" not in path or path.startswith("file://")


def delta_rs_reads(path: str) -> bool:
    """Whether `deltalake` reads this table's log: a local folder, or S3 (s3a://, s3://)."""
    return _is_local(path) or s3a.is_s3(path)


def delta_rs_location(path: str) -> tuple[str, dict[str, str] | None]:
    """The URI and storage options `deltalake` opens `path` with."""
    return (s3a.delta_rs_uri(path), s3a.storage_options()) if s3a.is_s3(path) else (path, None)


def keys_in_other_batches(spark, path: str, batch_id: str, sources: list[str]) -> set[str]:
    """Record keys of these source files that another batch already wrote (same object version re-listed).

    Only rows from the same source files are looked at (files pruned by their source_file
    statistics), so the check stays proportional to the batch rather than to the table. The keys
    come back to the driver so that the batch's own rows are filtered there: a write whose plan
    reads its target table is no blind append for Delta, which then reconstructs the table's state
    (seconds) before committing. A local or S3 table is read by `deltalake` (no Spark job).
    """
    if not sources:
        return set()
    from pyspark.sql import functions as F

    found = _column_from_log(path, "record_key", [("source_file", "in", list(sources))],
                             lambda field: field("source_file").isin(list(sources)) & (field("batch_id") != batch_id))
    if found is not None:
        return set(found)
    if not exists(spark, path):
        return set()
    earlier = (spark.read.format("delta").load(path)
               .where(F.col("source_file").isin(sources) & (F.col("batch_id") != batch_id))
               .select("record_key"))
    return {row.record_key for row in earlier.collect()}


def held_ids(spark, path: str, ids: list[str]) -> list[str]:
    """Which of `ids` the table holds (files pruned by their id statistics); `deltalake` where it reads."""
    from pyspark.sql import functions as F

    if not ids:
        return []
    found = _column_from_log(path, "id", [("id", "in", list(ids))], lambda field: field("id").isin(list(ids)))
    if found is not None:
        return found
    if not exists(spark, path):
        return []
    return [row.id for row in spark.read.format("delta").load(path).where(F.col("id").isin(ids)).select("id").collect()]


def _column_from_log(path: str, column: str, pruning: list, rows: Callable) -> list | None:
    """`column` of the rows matching `rows(pyarrow.dataset.field)` (see frame_from_log), as a list."""
    frame = frame_from_log(path, [column], pruning, rows)
    return None if frame is None else frame[column].tolist()


def frame_from_log(path: str, columns: list[str], pruning: list, rows: Callable | None = None):
    """`columns` of the rows matching `rows(pyarrow.dataset.field)`, read by `deltalake` from the files `pruning`
    keeps (tuple filters, checked against partition values and file statistics), as pandas.

    No rows without a table; None where `deltalake` cannot answer for certain (not local or S3,
    deletion vectors, an error), so the caller asks Spark.
    """
    if not delta_rs_reads(path):
        return None
    import pandas as pd
    import pyarrow.dataset as ds
    from deltalake.exceptions import TableNotFoundError

    try:
        table = open_log(path)
        if "deletionVectors" in (table.protocol().reader_features or []):
            return None
        dataset = table.to_pyarrow_dataset(file_pruning_predicate=pruning or None)
        return dataset.to_table(columns=columns, filter=None if rows is None else rows(ds.field)).to_pandas()
    except TableNotFoundError:
        return pd.DataFrame(columns=columns)
    except Exception as exc:
        log.warning("deltalake could not read %s (%s); asking Spark", path, exc)
        return None


def batch_from_log(path: str, batch_id: str, columns: list[str]):
    """`columns` of `batch_id`'s rows read by `deltalake` (frame_from_log, files pruned by their
    statistics), as pandas; None where it cannot answer, so the caller asks Spark (read_batch)."""
    return frame_from_log(path, columns, [("batch_id", "=", batch_id)], lambda field: field("batch_id") == batch_id)


def batches_held(path: str, batch_ids: list[str]) -> set[str]:
    """Which of `batch_ids` have rows in the table, read by `deltalake` from the files their range may be in.

    Where `deltalake` cannot answer, none counts as held, so the caller writes them again (every
    write is idempotent): a doubt costs time, never a batch.
    """
    if not batch_ids:
        return set()
    low, high = min(batch_ids), max(batch_ids)
    found = _column_from_log(path, "batch_id", [("batch_id", ">=", low), ("batch_id", "<=", high)],
                             lambda field: field("batch_id").isin(list(batch_ids)))
    return set(found or ())


def batches_with_prefix(path: str, prefix: str) -> list[str] | None:
    """The batch ids starting with `prefix` (all with ""), that have rows in the table, sorted, read by `deltalake`;
    None where it cannot answer. (An empty string as a file-pruning bound prunes every file, so "" prunes none.)"""
    if not prefix:
        found = _column_from_log(path, "batch_id", [], None)
    else:
        high = prefix + "\uffff"
        found = _column_from_log(path, "batch_id", [("batch_id", ">=", prefix), ("batch_id", "<=", high)],
                                 lambda field: (field("batch_id") >= prefix) & (field("batch_id") <= high))
    return None if found is None else sorted(set(found))


def read_batch(spark, path: str, batch_id: str):
    return spark.read.format("delta").load(path).where(batch_predicate(batch_id))


def batches_predicate(batch_ids: list[str]) -> str:
    """SQL predicate selecting several batches (each id checked as by batch_predicate)."""
    for batch_id in batch_ids:
        batch_predicate(batch_id)
    return "batch_id IN ({})".format(", ".join(f"'{b}'" for b in batch_ids))


def read_batches(spark, path: str, batch_ids: list[str]):
    """The rows of several batches, in one scan."""
    return spark.read.format("delta").load(path).where(batches_predicate(batch_ids))


def merge_by_id(spark, df, path: str, update_when: str | None = None) -> dict:
    """MERGE `df` into the table on `id` (creating it from df's schema first); returns MERGE metrics.

    Runs as SQL `MERGE INTO delta.`path`` over a temporary view named uniquely for this call, so
    it works the same in-process and over Spark Connect. `update_when` restricts which matched
    rows are replaced (None: all of them).
    """
    if not exists(spark, path):
        retry_on_conflict(lambda: df.limit(0).write.format("delta").mode("ignore").save(path))
    condition = f" AND ({update_when})" if update_when else ""
    with temp_view(df) as view:
        statement = (f"MERGE INTO {sql_table(path)} t USING {view} s ON t.id = s.id "
                     f"WHEN MATCHED{condition} THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")

        def merge() -> dict:
            fault_point(f"merge:{_table_name(path)}")
            return _merge_metrics(spark.sql(statement))

        metrics = retry_on_conflict(merge)
    fault_point(f"merged:{_table_name(path)}")
    return metrics


def append_new_ids(spark, df, path: str, batch_id: str, ids: list[str]) -> dict:
    """Append the rows of a batch the table has never held whose `id` it does not hold yet.

    The blind-append alternative to merge_by_id for a new batch. `ids` are df's (distinct) ids;
    those the table holds are looked up for these ids only (Delta skips files by their id
    statistics) and filtered out as literals, so the write's plan does not read its own table.
    The append is checked like replace_batch's. Returns the same metric names as a MERGE, and
    `held_ids`: the ids left out because the table held them.
    """
    from pyspark.sql import functions as F

    held = held_ids(spark, path, ids)
    inserted = len(ids) - len(held)
    fault_point(f"merge:{_table_name(path)}")
    if inserted:
        fresh = df.where(~F.col("id").isin(held)) if held else df
        retry_on_conflict(lambda: append_batch(fresh, path, batch_id, inserted))
    fault_point(f"merged:{_table_name(path)}")
    return {"num_inserted_rows": inserted, "num_updated_rows": 0, "held_ids": held}


@contextmanager
def temp_view(df, prefix: str = "tweetsent"):
    """`df` as a temporary view with a name unique to this call, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    df.createOrReplaceTempView(name)
    try:
        yield name
    finally:
        df.sparkSession.catalog.dropTempView(name)


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
    """Version and row count of a Delta table, read from its log's file statistics.

    Local and S3 tables are read by the `deltalake` package in milliseconds; other remote ones
    (abfss://, gs://), or a log it cannot read (a warning), go through Spark, a job or two per call.
    """
    if delta_rs_reads(path):
        try:
            return _describe_from_log(path)
        except Exception as exc:
            log.warning("deltalake could not read %s (%s); asking Spark", path, exc)
    version = spark.sql(f"DESCRIBE HISTORY {sql_table(path)} LIMIT 1").first()["version"]
    rows = spark.sql(f"SELECT COUNT(*) AS n FROM {sql_table(path)}").first()["n"]
    return TableState(path=path, version=int(version), rows=int(rows))


def column_names(spark, path: str) -> list[str]:
    """A table's columns: from its log by `deltalake` where it reads (milliseconds), else from Spark's analysis."""
    if delta_rs_reads(path):
        try:
            return [field.name for field in open_log(path).schema().fields]
        except Exception as exc:
            log.warning("deltalake could not read %s (%s); asking Spark", path, exc)
    return spark.read.format("delta").load(path).columns


def _read_log(path: str):
    """A local or S3 table's log, read by `deltalake`, and its live files with their statistics (pyarrow)."""
    import pyarrow as pa

    table = open_log(path)
    return table, pa.table(table.get_add_actions(flatten=True))


def open_log(path: str):
    """`deltalake`'s DeltaTable for a local or S3 table (TableNotFoundError when it holds none)."""
    from deltalake import DeltaTable

    uri, options = delta_rs_location(path)
    return DeltaTable(uri, storage_options=options)


def _describe_from_log(path: str) -> TableState:
    import pyarrow.compute as pc

    table, files = _read_log(path)
    if "deletionVectors" in (table.protocol().reader_features or []):
        raise ValueError("the table may have deletion vectors, which file statistics do not subtract")
    if files.num_rows and files.column("num_records").null_count:
        raise ValueError("some files have no row-count statistics")
    rows = pc.sum(files.column("num_records")).as_py() if files.num_rows else 0
    return TableState(path=path, version=int(table.version()), rows=int(rows or 0))
