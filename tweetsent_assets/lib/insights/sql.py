"""SQL plumbing that works the same over a local session and Spark Connect: reads, literals, time ranges."""
from __future__ import annotations


_MISSING_TABLE = ("DELTA_MISSING_DELTA_TABLE", "PATH_NOT_FOUND", "is not a Delta table", "does not exist",
                  "doesn't exist")


def read_where(session, path: str, predicate: str):
    """The rows of the Delta table at `path` matching `predicate`, as pandas; None while there is no table."""
    try:
        return session.read.format("delta").load(path).where(predicate).toPandas()
    except Exception as exc:
        if any(marker in str(exc) for marker in _MISSING_TABLE):
            return None
        raise


def sql_string(value: str) -> str:
    """A quoted Spark SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
