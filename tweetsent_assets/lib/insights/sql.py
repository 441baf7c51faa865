"""SQL plumbing that works the same over a local session and Spark Connect: temp views, tables, time ranges."""
from __future__ import annotations

import uuid
from contextlib import contextmanager


@contextmanager
def temp_view(df, prefix: str = "tweetsent"):
    """Registers `df` under a name unique to this call and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    df.createOrReplaceTempView(name)
    try:
        yield name
    finally:
        df.sparkSession.catalog.dropTempView(name)


def ensure_table(session, path: str, schema: str, partitioned_by: str | None = None) -> None:
    """Creates an empty Delta table at `path` unless one is there (no-op otherwise)."""
    partitioning = f" PARTITIONED BY ({partitioned_by})" if partitioned_by else ""
    session.sql(f"CREATE TABLE IF NOT EXISTS delta.`{path}` ({schema}) USING delta{partitioning}")


def timestamp_literal(value) -> str:
    """A Spark SQL literal for a pandas/datetime timestamp (session time zone, like the values read)."""
    return f"TIMESTAMP'{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def ranges_predicate(column: str, ranges: list[tuple]) -> str:
    """`column` falls in one of the half-open [low, high) ranges; FALSE when there are none."""
    if not ranges:
        return "FALSE"
    return " OR ".join(f"({column} >= {timestamp_literal(low)} AND {column} < {timestamp_literal(high)})"
                       for low, high in ranges)


def merge_ranges(ranges: list[tuple]) -> list[tuple]:
    """Sorted [low, high) ranges with overlapping or touching ones joined."""
    merged: list[list] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(low, high) for low, high in merged]
