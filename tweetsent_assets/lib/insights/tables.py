"""The aggregate tables people read, updated from the ledger totals after each fold.

After a batch only its rows change: the mentions it touched, the windows whose rolling share it
moved, and the windows whose spike baseline it is part of; each table gets one MERGE by key.
Every row carries the ledger version it was computed from (`ledger_version`), and a MERGE never
replaces a row computed from a newer version, so a slower run cannot undo a newer result.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from ..lake import delta_tables
from ..ml.models.labels import LABELS
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
VERSION = "ledger_version"


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


def write_table(session, rows: pd.DataFrame, schema: str, target: str, version: int) -> None:
    """Overwrites `target` with `rows` computed from ledger `version` (the full rebuild)."""
    data = rows[columns(schema)].assign(**{VERSION: version}) if len(rows) else []
    frame = session.createDataFrame(data, f"{schema}, {VERSION} long")
    delta_tables.overwrite(frame, target)


def merge_rows(session, rows: pd.DataFrame, schema: str, target: str, keys: list[str], version: int,
               gone: pd.DataFrame | None = None) -> None:
    """Upserts `rows` and deletes the keys in `gone`, all computed from ledger `version`, by `keys`.

    A row already written from a newer ledger version is left alone.
    """
    gone = gone if gone is not None else pd.DataFrame(columns=keys)
    if rows.empty and gone.empty:
        return
    _ensure_table(session, target, schema)
    source = pd.concat([rows[columns(schema)].assign(_drop=False), gone[keys].assign(_drop=True)], ignore_index=True)
    source[VERSION] = version
    for column in (c for c in columns(schema) if f"{c} array<" in schema):
        source[column] = source[column].map(lambda v: list(v) if isinstance(v, (list, np.ndarray)) else None)
    frame = session.createDataFrame(source[[*columns(schema), VERSION, "_drop"]],
                                    f"{schema}, {VERSION} long, _drop boolean")
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in keys)
    newer = f"(t.{VERSION} IS NULL OR s.{VERSION} >= t.{VERSION})"
    names = [*columns(schema), VERSION]
    updates = ", ".join(f"{c} = s.{c}" for c in names)

    def merge() -> None:
        with delta_tables.temp_view(frame, "aggregate_rows") as view:
            session.sql(f"MERGE INTO {delta_tables.sql_table(target)} t USING {view} s ON {on} "
                        f"WHEN MATCHED AND s._drop AND {newer} THEN DELETE "
                        f"WHEN MATCHED AND {newer} THEN UPDATE SET {updates} "
                        f"WHEN NOT MATCHED AND NOT s._drop THEN INSERT ({', '.join(names)}) "
                        f"VALUES ({', '.join('s.' + c for c in names)})")

    delta_tables.retry_on_conflict(merge)


def _ensure_table(session, target: str, schema: str) -> None:
    """Creates `target` empty, or adds the version column to a table written before rows carried it."""
    if not delta_tables.exists(session, target):
        empty = session.createDataFrame([], f"{schema}, {VERSION} long")
        delta_tables.retry_on_conflict(lambda: empty.write.format("delta").mode("ignore").save(target))
    elif VERSION not in delta_tables.column_names(session, target):
        session.sql(f"ALTER TABLE {delta_tables.sql_table(target)} ADD COLUMNS ({VERSION} long)")


def mentions(totals: pd.DataFrame) -> pd.DataFrame:
    """Per @mention: counts per label, total, first and last seen."""
    return ledgers.mentions_of(totals)[columns(MENTION_SCHEMA)].reset_index(drop=True)


def trends(totals: pd.DataFrame, rolling: str) -> pd.DataFrame:
    """Per time window: counts, shares and rolling shares (from the window totals, one row per window)."""
    counts = ledgers.windows_of(totals)[list(COUNT_COLUMNS)]
    return with_shares(counts, rolling) if len(counts) else counts.reindex(columns=columns(TRENDS_SCHEMA))


def mention_updates(totals: pd.DataFrame, touched: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows for the touched mentions, and the touched mentions no batch counts any more."""
    rows = mentions(totals)
    gone = pd.DataFrame({"mention": sorted(set(touched) - set(rows["mention"]))}, dtype=object)
    return rows, gone


def trend_updates(totals: pd.DataFrame, touched: pd.Series, rolling: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the windows a touched window moved ([t, t + rolling)), from `totals` holding their trailing spans.

    Also the touched windows no batch counts any more.
    """
    shared = trends(totals, rolling)
    gone = pd.DataFrame({"window_start": sorted(set(touched) - set(shared["window_start"]))},
                        dtype="datetime64[ns]")
    if shared.empty or touched.empty:
        return shared.iloc[0:0], gone
    moved = _within(shared["window_start"], touched, pd.Timedelta(rolling), closed_end=False)
    return shared[moved].reset_index(drop=True), gone


def reach(rolling: str, rule: SpikeRule) -> pd.Timedelta:
    """How far before and after a touched window the totals are needed: the longer of the two spans."""
    return max(pd.Timedelta(rolling), pd.Timedelta(rule.baseline))


def rescore_spikes(session, counts: pd.DataFrame, spikes_path: str, gold_path: str, touched: pd.Series,
                   rule: SpikeRule) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Flagged windows among those a touched window is in the baseline of, the rest of those, and their number.

    A window's baseline is the preceding `baseline` span, so a touched window t changes the scores
    in [t, t + baseline], computed from the windows of `counts` in [t - baseline, t + baseline].
    Top terms are kept from the spike table for flagged windows that are not touched, and looked
    up in gold for the others.
    """
    nothing = pd.DataFrame(columns=columns(SPIKES_SCHEMA)), pd.DataFrame(columns=["window_start"])
    if touched.empty or counts.empty:
        return (*nothing, 0)
    span = pd.Timedelta(rule.baseline)
    context = counts[_within(counts["window_start"], touched - span, 2 * span, closed_end=True)]
    scored = score_windows(context[list(COUNT_COLUMNS)], rule.baseline, rule.min_tweets)
    scored = scored[_within(scored["window_start"], touched, span, closed_end=True)].reset_index(drop=True)
    spike = is_spike(scored, rule.z, rule.min_baseline_windows, rule.min_tweets, rule.two_sided)
    flagged = scored[spike]
    ranges = merge_ranges([(t, t + span + pd.Timedelta(microseconds=1)) for t in touched])
    existing = read_where(session, spikes_path, ranges_predicate("window_start", ranges))
    existing = existing if existing is not None else pd.DataFrame(columns=columns(SPIKES_SCHEMA))
    found = _with_top_terms(session, existing, gold_path, flagged, touched, rule.top_n)
    return found[columns(SPIKES_SCHEMA)], scored.loc[~spike, ["window_start"]], len(scored)


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
