"""The aggregate tables people read, written from the ledger totals after each fold.

The totals hold one row per @mention and per time window (not per tweet), so each table is
rewritten from them in one commit. Every write carries Delta's idempotent-write id with the
ledger version it was computed from: a slower run holding older totals cannot overwrite a newer
result. Spikes are re-scored only for the windows whose baseline a touched window is part of.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from ..lake import delta_tables
from ..sentiment.labels import LABELS
from . import ledger as ledgers
from .spikes import is_spike, score_windows, window_top_terms, with_shares
from .sql import merge_ranges, ranges_predicate, read_where

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


def write_table(session, rows: pd.DataFrame, schema: str, target: str, version: int | None = None) -> None:
    """Overwrites `target` with `rows`; with `version`, skipped if a write from a newer ledger version is in."""
    frame = session.createDataFrame(rows[columns(schema)] if len(rows) else [], schema)
    writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if version is not None:
        writer = writer.option("txnAppId", f"tweetsent-aggregates:{target}").option("txnVersion", version)
    delta_tables.retry_on_conflict(lambda: writer.save(target))


def mentions(totals: pd.DataFrame) -> pd.DataFrame:
    """Per @mention: counts per label, total, first and last seen."""
    return ledgers.mentions_of(totals)[columns(MENTION_SCHEMA)].reset_index(drop=True)


def trends(totals: pd.DataFrame, rolling: str) -> pd.DataFrame:
    """Per time window: counts, shares and rolling shares (from the window totals, one row per window)."""
    counts = ledgers.windows_of(totals)[list(COUNT_COLUMNS)]
    return with_shares(counts, rolling) if len(counts) else counts.reindex(columns=columns(TRENDS_SCHEMA))


def spikes(session, trend_rows: pd.DataFrame, existing: pd.DataFrame | None, gold_path: str, touched: pd.Series,
           rule: SpikeRule) -> tuple[pd.DataFrame, int]:
    """The spike table after the touched windows changed, and how many windows were re-scored.

    A window's baseline is the preceding `baseline` span, so a touched window t changes the scores
    in [t, t + baseline], computed from the windows in [t - baseline, t + baseline]. Spike rows
    outside those ranges are kept as they are; top terms are looked up in gold only for flagged
    windows that are touched or newly flagged.
    """
    existing = existing if existing is not None else pd.DataFrame(columns=columns(SPIKES_SCHEMA))
    if touched.empty or trend_rows.empty:
        return existing, 0
    span = pd.Timedelta(rule.baseline)
    starts = trend_rows["window_start"]
    context = trend_rows[_within(starts, touched - span, 2 * span, closed_end=True)]
    scored = score_windows(context[list(COUNT_COLUMNS)], rule.baseline, rule.min_tweets)
    scored = scored[_within(scored["window_start"], touched, span, closed_end=True)].reset_index(drop=True)
    flagged = scored[is_spike(scored, rule.z, rule.min_baseline_windows, rule.min_tweets, rule.two_sided)]
    rescored = _within(existing["window_start"], touched, span, closed_end=True) if len(existing) else []
    kept = existing[~np.asarray(rescored, dtype=bool)] if len(existing) else existing
    found = _with_top_terms(session, existing, gold_path, flagged, touched, rule.top_n)
    table = pd.concat([kept[columns(SPIKES_SCHEMA)], found[columns(SPIKES_SCHEMA)]], ignore_index=True)
    return table.sort_values("window_start").reset_index(drop=True), len(scored)


def _within(starts: pd.Series, marks: pd.Series, span: pd.Timedelta, closed_end: bool) -> np.ndarray:
    """Which `starts` lie in [m, m + span) (or [m, m + span]) for some m of the sorted `marks`."""
    marks = marks.to_numpy()
    index = np.searchsorted(marks, starts.to_numpy(), side="right") - 1
    gap = starts.to_numpy() - marks[np.clip(index, 0, None)]
    inside = gap <= span.to_timedelta64() if closed_end else gap < span.to_timedelta64()
    return (index >= 0) & inside


def _with_top_terms(session, existing: pd.DataFrame, gold_path: str, flagged: pd.DataFrame,
                    touched: pd.Series, n: int) -> pd.DataFrame:
    """Flagged windows with their top mentions and hashtags: kept from `existing` rows, or looked up in gold."""
    if flagged.empty:
        return flagged.assign(top_mentions=[], top_hashtags=[])
    known = existing[["window_start", "top_mentions", "top_hashtags"]]
    known = known[known["window_start"].isin(set(flagged["window_start"])) & ~known["window_start"].isin(set(touched))]
    missing = flagged[~flagged["window_start"].isin(set(known["window_start"]))]
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
    merged = flagged.merge(terms, on="window_start", how="left")
    for column in ("top_mentions", "top_hashtags"):
        merged[column] = merged[column].map(lambda v: list(v) if isinstance(v, (list, np.ndarray)) else [])
    return merged


def read_spikes(session, target: str) -> pd.DataFrame | None:
    return read_where(session, target, "TRUE")


def spikes_of(session, trend_rows: pd.DataFrame, gold, rule: SpikeRule):
    """Spark DataFrame of every flagged window of `trend_rows` with its top terms from `gold` (the full rebuild)."""
    scored = score_windows(trend_rows, rule.baseline, rule.min_tweets) if len(trend_rows) else trend_rows
    flagged = scored[is_spike(scored, rule.z, rule.min_baseline_windows, rule.min_tweets, rule.two_sided)] \
        if len(scored) else scored
    base = [c for c in columns(SPIKES_SCHEMA) if not c.startswith("top_")]
    frame = session.createDataFrame(flagged[base] if len(flagged) else [], SPIKES_SCHEMA.split(", top_mentions")[0])
    for column in ("mentions", "hashtags"):
        top = window_top_terms(gold, frame, column, rule.top_n)
        frame = (frame.join(top, "window_start", "left")
                 .withColumn(f"top_{column}", F.coalesce(f"top_{column}", F.array().cast("array<string>"))))
    return frame.select(*columns(SPIKES_SCHEMA))
