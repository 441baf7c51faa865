"""The aggregate tables people read, kept up to date from the ledgers for the keys one batch touched.

Each update writes absolute values read from the ledger totals (never increments), so running it
again, or after another batch, gives the same table. `build_*` write the whole table instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from .. import delta_tables
from ..sentiment.labels import LABELS
from . import ledger as ledgers
from .spikes import is_spike, score_windows, window_top_terms, with_shares
from .sql import ensure_table, merge_ranges, ranges_predicate, temp_view, timestamp_literal

MENTION_SCHEMA = ("mention string, " + ", ".join(f"{c} long" for c in ledgers.COUNTS)
                  + ", first_seen timestamp, last_seen timestamp")
TRENDS_SCHEMA = ("window_start timestamp, window_end timestamp, "
                 + ", ".join(f"{label} long" for label in LABELS) + ", total long, "
                 + ", ".join(f"share_{label} double" for label in LABELS) + ", "
                 + ", ".join(f"rolling_share_{label} double" for label in LABELS))
SPIKES_SCHEMA = ("window_start timestamp, window_end timestamp, negative long, total long, share_negative double, "
                 "baseline_share_negative double, baseline_std double, baseline_windows long, z_score double, "
                 "direction string, top_mentions array<string>, top_hashtags array<string>")
COUNT_COLUMNS = ("window_start", "window_end", *ledgers.COUNTS)


def columns(schema: str) -> list[str]:
    return [part.split()[0] for part in schema.split(", ")]


@dataclass(frozen=True)
class SpikeRule:
    """detect_spikes' parameters, plus how many top terms a flagged window keeps."""

    z: float = 3.0
    baseline: str = "24 hours"
    min_baseline_windows: int = 6
    min_tweets: int = 10
    two_sided: bool = True
    top_n: int = 5


def update_mentions(session, mention_ledger: str, target: str, batch_id: str) -> int:
    """Copies the ledger totals of the mentions `batch_id` touched into `target`; returns how many."""
    touched = ledgers.batch_keys(session, mention_ledger, ledgers.MENTIONS, batch_id)
    source = touched.join(ledgers.totals(session, mention_ledger), "mention", "left")
    ensure_table(session, target, MENTION_SCHEMA)
    _merge_absolute(session, target, source, "mention", "total", columns(MENTION_SCHEMA))
    return touched.count()


def touched_windows(session, window_ledger: str, batch_id: str) -> pd.Series:
    """Start of each time window `batch_id` has tweets in (or had, before a re-run)."""
    keys = ledgers.batch_keys(session, window_ledger, ledgers.WINDOWS, batch_id).where("window_start IS NOT NULL")
    return keys.toPandas()["window_start"].sort_values().reset_index(drop=True)


def update_trends(session, window_ledger: str, target: str, touched: pd.Series, rolling: str) -> int:
    """Recomputes the windows whose counts or rolling share the touched windows change; returns how many.

    A window's rolling share pools (start - rolling, start], so a touched window t changes the
    windows in [t, t + rolling); they are computed from the ledger totals in (t - rolling, t + rolling).
    """
    if touched.empty:
        return 0
    span = pd.Timedelta(rolling)
    context = merge_ranges([(t - span, t + span) for t in touched])
    counts = (ledgers.totals(session, window_ledger).where(ranges_predicate("window_start", context))
              .select(*COUNT_COLUMNS).toPandas())
    trends = with_shares(counts, rolling) if len(counts) else counts
    changed = trends[_within(trends["window_start"], touched, span, closed_end=False)] if len(trends) else trends
    gone = sorted(set(touched) - set(changed["window_start"]) if len(changed) else set(touched))
    source = session.createDataFrame(changed[columns(TRENDS_SCHEMA)] if len(changed) else [], TRENDS_SCHEMA)
    if gone:
        source = source.unionByName(_starts(session, gone), allowMissingColumns=True)
    ensure_table(session, target, TRENDS_SCHEMA)
    _merge_absolute(session, target, source, "window_start", "total", columns(TRENDS_SCHEMA))
    return len(changed) + len(gone)


def update_spikes(session, trends_path: str, gold_path: str, target: str, touched: pd.Series,
                  rule: SpikeRule) -> dict:
    """Re-scores the windows whose score the touched windows change and rewrites their spike rows.

    A window's baseline is the preceding `baseline` span, so a touched window t changes the scores
    in [t, t + baseline], computed from the trends in [t - baseline, t + baseline]. Top terms are
    looked up in gold only for flagged windows that are touched or newly flagged.
    """
    if touched.empty:
        return {"windows_scored": 0, "spikes_flagged": 0}
    span = pd.Timedelta(rule.baseline)
    nudge = pd.Timedelta(microseconds=1)
    context = merge_ranges([(t - span, t + span + nudge) for t in touched])
    trends = (session.read.format("delta").load(trends_path).where(ranges_predicate("window_start", context))
              .select(*COUNT_COLUMNS).toPandas())
    if trends.empty:
        scored = trends
        flagged = pd.Series([], dtype=bool)
    else:
        scored = score_windows(trends, rule.baseline, rule.min_tweets)
        scored = scored[_within(scored["window_start"], touched, span, closed_end=True)].reset_index(drop=True)
        flagged = is_spike(scored, rule.z, rule.min_baseline_windows, rule.min_tweets, rule.two_sided)
    ensure_table(session, target, SPIKES_SCHEMA)
    spikes = scored[flagged.to_numpy()] if len(scored) else scored
    spikes = _with_top_terms(session, target, gold_path, spikes, touched, rule.top_n)
    windows = sorted(set(touched) | set(scored["window_start"] if len(scored) else []))
    source = session.createDataFrame(spikes[columns(SPIKES_SCHEMA)] if len(spikes) else [], SPIKES_SCHEMA)
    source = source.withColumn("_flagged", F.lit(True))
    quiet = [w for w in windows if w not in set(spikes["window_start"] if len(spikes) else [])]
    if quiet:
        source = source.unionByName(_starts(session, quiet).withColumn("_flagged", F.lit(False)),
                                    allowMissingColumns=True)
    _merge_flagged(session, target, source, columns(SPIKES_SCHEMA))
    return {"windows_scored": len(windows), "spikes_flagged": len(spikes)}


def _starts(session, starts: list):
    """A one-column DataFrame of window starts (through pandas, so the session time zone applies)."""
    return session.createDataFrame(pd.DataFrame({"window_start": pd.to_datetime(list(starts))}),
                                   "window_start timestamp")


def _within(starts: pd.Series, touched: pd.Series, span: pd.Timedelta, closed_end: bool) -> np.ndarray:
    """Which `starts` lie in [t, t + span) (or [t, t + span]) for some touched window t."""
    marks = touched.to_numpy()
    index = np.searchsorted(marks, starts.to_numpy(), side="right") - 1
    nearest = marks[np.clip(index, 0, None)]
    gap = starts.to_numpy() - nearest
    inside = gap <= span.to_timedelta64() if closed_end else gap < span.to_timedelta64()
    return (index >= 0) & inside


def _with_top_terms(session, target: str, gold_path: str, spikes: pd.DataFrame, touched: pd.Series,
                    n: int) -> pd.DataFrame:
    """Flagged windows with their top mentions and hashtags: kept from the table, or looked up in gold."""
    if spikes.empty:
        return spikes.assign(top_mentions=[], top_hashtags=[])
    listed = ", ".join(timestamp_literal(w) for w in spikes["window_start"])
    known = (session.read.format("delta").load(target).where(f"window_start IN ({listed})")
             .select("window_start", "top_mentions", "top_hashtags").toPandas())
    known = known[~known["window_start"].isin(set(touched))]
    missing = spikes[~spikes["window_start"].isin(set(known["window_start"]))]
    looked_up = known.iloc[0:0]
    if len(missing):
        ranges = merge_ranges(list(zip(missing["window_start"], missing["window_end"])))
        gold = session.read.format("delta").load(gold_path).where(ranges_predicate("created_at", ranges))
        windows = session.createDataFrame(missing[["window_start", "window_end"]],
                                          "window_start timestamp, window_end timestamp")
        looked_up = missing[["window_start"]]
        for column in ("mentions", "hashtags"):
            top = window_top_terms(gold, windows, column, n).toPandas()
            looked_up = looked_up.merge(top, on="window_start", how="left")
    terms = pd.concat([known, looked_up], ignore_index=True)
    merged = spikes.merge(terms, on="window_start", how="left")
    for column in ("top_mentions", "top_hashtags"):
        merged[column] = merged[column].map(lambda v: list(v) if isinstance(v, (list, np.ndarray)) else [])
    return merged


def _merge_absolute(session, target: str, source, key: str, presence: str, names: list[str]) -> None:
    """MERGE rows by `key`: a row whose `presence` column is NULL deletes the key, others replace or insert."""
    update = ", ".join(f"{c} = s.{c}" for c in names)
    values = ", ".join(f"s.{c}" for c in names)

    def merge() -> None:
        with temp_view(source, "aggregate_source") as view:
            session.sql(f"""
                MERGE INTO delta.`{target}` t USING {view} s ON t.{key} = s.{key}
                WHEN MATCHED AND s.{presence} IS NULL THEN DELETE
                WHEN MATCHED THEN UPDATE SET {update}
                WHEN NOT MATCHED AND s.{presence} IS NOT NULL THEN INSERT ({", ".join(names)}) VALUES ({values})
            """)

    delta_tables.retry_on_conflict(merge)


def _merge_flagged(session, target: str, source, names: list[str]) -> None:
    """MERGE scored windows into the spikes table: flagged ones replace or insert, the others are deleted."""
    update = ", ".join(f"{c} = s.{c}" for c in names)
    values = ", ".join(f"s.{c}" for c in names)

    def merge() -> None:
        with temp_view(source, "spike_source") as view:
            session.sql(f"""
                MERGE INTO delta.`{target}` t USING {view} s ON t.window_start = s.window_start
                WHEN MATCHED AND NOT s._flagged THEN DELETE
                WHEN MATCHED THEN UPDATE SET {update}
                WHEN NOT MATCHED AND s._flagged THEN INSERT ({", ".join(names)}) VALUES ({values})
            """)

    delta_tables.retry_on_conflict(merge)


def build_mentions(session, mention_ledger: str, target: str) -> None:
    """Writes the whole mention table from the ledger totals."""
    delta_tables.overwrite(ledgers.totals(session, mention_ledger).select(*columns(MENTION_SCHEMA)), target)


def build_trends(session, window_ledger: str, target: str, rolling: str) -> int:
    """Writes the whole trends table from the ledger totals; returns its windows."""
    counts = (ledgers.totals(session, window_ledger).where("window_start IS NOT NULL")
              .select(*COUNT_COLUMNS).toPandas())
    trends = with_shares(counts, rolling)
    rows = trends[columns(TRENDS_SCHEMA)] if len(trends) else []
    delta_tables.overwrite(session.createDataFrame(rows, TRENDS_SCHEMA), target)
    return len(trends)


def spikes_of(session, trends: pd.DataFrame, gold, rule: SpikeRule):
    """Spark DataFrame of every flagged window of `trends` with its top terms from `gold`."""
    scored = score_windows(trends, rule.baseline, rule.min_tweets) if len(trends) else trends
    spikes = scored[is_spike(scored, rule.z, rule.min_baseline_windows, rule.min_tweets, rule.two_sided)] \
        if len(scored) else scored
    base = [c for c in columns(SPIKES_SCHEMA) if not c.startswith("top_")]
    flagged = session.createDataFrame(spikes[base] if len(spikes) else [],
                                      SPIKES_SCHEMA.split(", top_mentions")[0])
    for column in ("mentions", "hashtags"):
        top = window_top_terms(gold, flagged, column, rule.top_n)
        flagged = (flagged.join(top, "window_start", "left")
                   .withColumn(f"top_{column}", F.coalesce(f"top_{column}", F.array().cast("array<string>"))))
    return flagged.select(*columns(SPIKES_SCHEMA))


def build_spikes(session, trends_path: str, gold_path: str, target: str, rule: SpikeRule) -> None:
    """Writes the whole spikes table from the trends table and gold."""
    trends = session.read.format("delta").load(trends_path).select(*COUNT_COLUMNS).toPandas()
    gold = session.read.format("delta").load(gold_path)
    delta_tables.overwrite(spikes_of(session, trends, gold, rule).orderBy("window_start"), target)
