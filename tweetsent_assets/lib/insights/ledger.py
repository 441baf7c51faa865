"""Per-batch partial aggregates and their running totals, kept together in one Delta table per aggregate.

A ledger table is partitioned by batch_id: one partition per gold batch holds that batch's
contribution (its partial counts per key), and the `__total__` partition holds their sum. Folding
a batch is ONE MERGE that replaces the batch's partials and adds (new - old) to the totals, so a
re-run or a re-score replaces a contribution and never adds it twice, even after a crash between
two runs. The MERGE reads the batch's partition and the totals only, never the other batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import functions as F

from .. import delta_tables
from ..sentiment.labels import LABELS
from .sql import ensure_table, temp_view

TOTAL = "__total__"
COUNTS = (*LABELS, "total")
EXTREMES = ("first_seen", "last_seen")


@dataclass(frozen=True)
class Ledger:
    """One ledger table: its key columns, columns carried with the key, and whether it tracks first/last seen."""

    table: str
    keys: tuple[str, ...]
    carried: tuple[str, ...] = ()
    extremes: bool = False

    @property
    def value_columns(self) -> tuple[str, ...]:
        return (*COUNTS, *(EXTREMES if self.extremes else ()))

    @property
    def columns(self) -> tuple[str, ...]:
        return ("batch_id", *self.keys, *self.carried, *self.value_columns)

    @property
    def schema(self) -> str:
        types = {"batch_id": "string", "mention": "string", "window_start": "timestamp", "window_end": "timestamp",
                 "first_seen": "timestamp", "last_seen": "timestamp"}
        return ", ".join(f"{c} {types.get(c, 'long')}" for c in self.columns)


MENTIONS = Ledger("mention_ledger", keys=("mention",), extremes=True)
WINDOWS = Ledger("window_ledger", keys=("window_start",), carried=("window_end",))


def label_counts():
    """negative/neutral/positive counts and the total, as aggregate expressions over a `label` column."""
    return [*(F.sum(F.when(F.col("label") == label, 1).otherwise(0)).cast("long").alias(label) for label in LABELS),
            F.count("*").cast("long").alias("total")]


def mention_partials(gold):
    """Per batch and @mention: counts per label, first and last seen."""
    return (gold.select("batch_id", F.explode("mentions").alias("mention"), "label", "created_at")
            .groupBy("batch_id", "mention")
            .agg(*label_counts(), F.min("created_at").alias("first_seen"), F.max("created_at").alias("last_seen")))


def window_partials(gold, window: str):
    """Per batch and epoch-aligned time window (as Spark's window()): counts per label.

    Tweets without a time count in a window_start NULL row, so the totals cover every gold row.
    """
    import pandas as pd

    seconds = int(pd.Timedelta(window).total_seconds())
    start = F.timestamp_seconds(F.floor(F.unix_seconds("created_at") / seconds) * seconds)
    return (gold.select("batch_id", "label", start.alias("window_start"))
            .groupBy("batch_id", "window_start").agg(*label_counts())
            .withColumn("window_end", F.col("window_start") + F.expr(f"INTERVAL {seconds} SECONDS")))


def fold_batch(session, path: str, ledger: Ledger, batch_id: str, partials) -> None:
    """Replaces `batch_id`'s partials in the ledger with `partials` and moves the totals by the difference.

    Keys the batch no longer has stay as zero-count rows of the batch, so the batch's keys are
    every key it ever touched. When a key's first/last seen may have moved back (the batch lost
    or changed its extreme), that key's total is recomputed from all its partials.
    """
    delta_tables.batch_predicate(batch_id)
    ensure_table(session, path, ledger.schema, partitioned_by="batch_id")

    def attempt() -> None:
        table = session.read.format("delta").load(path)
        old = table.where(delta_tables.batch_predicate(batch_id))
        new = partials.where(F.col("batch_id") == batch_id)
        source = _merge_source(table, ledger, batch_id, old, new)
        with temp_view(source, "ledger_source") as view:
            session.sql(_merge_sql(path, ledger, batch_id, view))

    delta_tables.retry_on_conflict(attempt)


def _merge_source(table, ledger: Ledger, batch_id: str, old, new):
    """The batch's new partial rows plus one totals row per key: an 'add' of the difference, or a 'set'."""
    on = reduce(lambda a, b: a & b, [F.col(f"o.{k}").eqNullSafe(F.col(f"n.{k}")) for k in ledger.keys])
    joined = old.alias("o").join(new.alias("n"), on, "full_outer")
    keys = [F.coalesce(f"n.{k}", f"o.{k}").alias(k) for k in (*ledger.keys, *ledger.carried)]
    extremes = [F.col(f"n.{c}").alias(c) for c in EXTREMES] if ledger.extremes else []
    partial = joined.select(F.lit(batch_id).alias("batch_id"), *keys,
                            *(F.coalesce(f"n.{c}", F.lit(0)).cast("long").alias(c) for c in COUNTS), *extremes,
                            F.lit("set").alias("mode"))
    added = joined.select(F.lit(TOTAL).alias("batch_id"), *keys,
                          *((F.coalesce(f"n.{c}", F.lit(0)) - F.coalesce(f"o.{c}", F.lit(0))).cast("long").alias(c)
                            for c in COUNTS), *extremes,
                          _moved_back(ledger).alias("_reset"), F.lit("add").alias("mode"))
    resets = [] if not ledger.extremes else [
        tuple(row) for row in added.where("_reset").select(*ledger.keys).collect()]
    totals = added.where(~F.col("_reset")).drop("_reset")
    if resets:
        totals = totals.unionByName(_recomputed_totals(table, ledger, batch_id, new, resets))
    return partial.unionByName(totals)


def _moved_back(ledger: Ledger):
    """True for keys the batch had before whose first/last seen changed or vanished (min/max cannot be undone)."""
    if not ledger.extremes:
        return F.lit(False)
    had = F.col(f"o.{ledger.keys[0]}").isNotNull()
    same = reduce(lambda a, b: a & b, [F.col(f"o.{c}").eqNullSafe(F.col(f"n.{c}")) for c in EXTREMES])
    return had & ~same


def _recomputed_totals(table, ledger: Ledger, batch_id: str, new, keys: list[tuple]):
    """Totals for `keys` from every other batch's partials plus the batch's new ones ('set' rows)."""
    (key,) = ledger.keys
    values = [k[0] for k in keys]
    wanted = F.col(key).isin(values)
    others = table.where((F.col("batch_id") != batch_id) & (F.col("batch_id") != TOTAL) & wanted)
    zeros = table.where((F.col("batch_id") == batch_id) & wanted).select(
        "batch_id", *ledger.keys, *ledger.carried, *(F.lit(0).cast("long").alias(c) for c in COUNTS),
        *(F.lit(None).cast("timestamp").alias(c) for c in EXTREMES))
    rows = (others.select(*ledger.columns).unionByName(zeros)
            .unionByName(new.where(wanted).select(*ledger.columns)))
    summed = rows.groupBy(*ledger.keys, *ledger.carried).agg(
        *(F.sum(c).cast("long").alias(c) for c in COUNTS),
        F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen"))
    return summed.select(F.lit(TOTAL).alias("batch_id"), *summed.columns, F.lit("set").alias("mode"))


def _merge_sql(path: str, ledger: Ledger, batch_id: str, view: str) -> str:
    on = " AND ".join([f"t.batch_id IN ('{batch_id}', '{TOTAL}')", "t.batch_id = s.batch_id",
                       *(f"t.{k} <=> s.{k}" for k in ledger.keys)])
    added = [f"{c} = t.{c} + s.{c}" for c in COUNTS]
    if ledger.extremes:
        added += ["first_seen = least(t.first_seen, s.first_seen)", "last_seen = greatest(t.last_seen, s.last_seen)"]
    replaced = ", ".join(f"{c} = s.{c}" for c in ledger.value_columns)
    columns = ", ".join(ledger.columns)
    values = ", ".join(f"s.{c}" for c in ledger.columns)
    return f"""
        MERGE INTO delta.`{path}` t USING {view} s ON {on}
        WHEN MATCHED AND s.mode = 'add' AND t.total + s.total = 0 THEN DELETE
        WHEN MATCHED AND s.mode = 'add' THEN UPDATE SET {", ".join(added)}
        WHEN MATCHED AND s.batch_id = '{TOTAL}' AND s.total = 0 THEN DELETE
        WHEN MATCHED THEN UPDATE SET {replaced}
        WHEN NOT MATCHED AND (s.batch_id <> '{TOTAL}' OR s.total > 0) THEN INSERT ({columns}) VALUES ({values})
    """


def rebuild(path: str, ledger: Ledger, partials) -> None:
    """Overwrites the whole ledger with `partials` (every batch) and their totals."""
    summed = partials.groupBy(*ledger.keys, *ledger.carried).agg(
        *(F.sum(c).cast("long").alias(c) for c in COUNTS),
        *((F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen")) if ledger.extremes else ()))
    rows = partials.select(*ledger.columns).unionByName(summed.withColumn("batch_id", F.lit(TOTAL)).select(*ledger.columns))
    delta_tables.retry_on_conflict(lambda: rows.write.format("delta").mode("overwrite")
                                   .option("overwriteSchema", "true").partitionBy("batch_id").save(path))


def totals(session, path: str):
    """The summed rows of a ledger (without batch_id)."""
    return session.read.format("delta").load(path).where(f"batch_id = '{TOTAL}'").drop("batch_id")


def batch_keys(session, path: str, ledger: Ledger, batch_id: str):
    """Every key `batch_id` has touched (its partial rows, zero-count ones included)."""
    return delta_tables.read_batch(session, path, batch_id).select(*ledger.keys)
