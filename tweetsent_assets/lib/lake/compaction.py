"""Compaction of a Delta table's small files (SQL `OPTIMIZE`), reporting its file count before and after.

Every micro-batch appends a few small files to each layer; reading a table (and its log) costs
per file, so the files are bin-packed from time to time, off the micro-batch's path. Only SQL is
used, so it runs in-process and over Spark Connect alike.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .delta_tables import exists, retry_on_conflict, sql_table


@dataclass(frozen=True)
class Compaction:
    """What one table's compaction did; `skipped` when it had too few files to be worth rewriting."""

    path: str
    files_before: int
    files_after: int
    bytes_before: int
    files_removed: int = 0
    files_added: int = 0
    seconds: float = 0.0
    skipped: bool = False

    def metadata(self) -> dict:
        return {"table_path": self.path, "files_before": self.files_before, "files_after": self.files_after,
                "bytes_before": self.bytes_before, "files_removed": self.files_removed,
                "files_added": self.files_added, "compaction_s": round(self.seconds, 2), "skipped": self.skipped}


def file_stats(spark, path: str) -> tuple[int, int]:
    """(live files, their bytes) from DESCRIBE DETAIL."""
    detail = spark.sql(f"DESCRIBE DETAIL {sql_table(path)}").first()
    return int(detail["numFiles"] or 0), int(detail["sizeInBytes"] or 0)


def compact(spark, path: str, min_files: int) -> Compaction | None:
    """OPTIMIZE `path` when it has at least `min_files` live files; None when there is no table.

    A concurrent micro-batch that replaced files being compacted makes one side retry: the batch
    through its own conflict retry, the compaction through this one. Appends never conflict.
    """
    if not exists(spark, path):
        return None
    files_before, bytes_before = file_stats(spark, path)
    if files_before < max(min_files, 2):
        return Compaction(path, files_before, files_before, bytes_before, skipped=True)
    started = time.perf_counter()
    metrics = retry_on_conflict(lambda: spark.sql(f"OPTIMIZE {sql_table(path)}").first()["metrics"])
    seconds = time.perf_counter() - started
    files_after, _ = file_stats(spark, path)
    return Compaction(path, files_before, files_after, bytes_before, files_removed=int(metrics["numFilesRemoved"]),
                      files_added=int(metrics["numFilesAdded"]), seconds=seconds)
