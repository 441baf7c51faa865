"""Per-batch partial aggregates and their running totals, kept together in one Delta table.

The ledger is partitioned by batch_id: batch b's partition holds b's contribution (partial counts
per @mention and per time window), and the `__total__` partition holds their sum. Folding a
batch is ONE MERGE: the batch's new partials replace its old ones, and the totals move by
(new - old). A re-run or a re-score therefore replaces a contribution and never adds it twice,
even after a crash, and no other batch's partials are read. The per-batch frames are small, so
the differences are computed in pandas on the driver.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..lake import delta_tables
from ..lake.delta_tables import temp_view
from ..ml.models.labels import LABELS
from .sql import ranges_predicate, read_where, sql_string

TABLE = "aggregate_ledger"
TOTAL = "__total__"
COUNTS = (*LABELS, "total")
EXTREMES = ("first_seen", "last_seen")
KEYS = ("kind", "mention", "window_start")
MENTION, WINDOW = "mention", "window"
COLUMNS = ("batch_id", *KEYS, "window_end", *COUNTS, *EXTREMES)
SCHEMA = ("batch_id string, kind string, mention string, window_start timestamp, window_end timestamp, "
          + ", ".join(f"{c} long" for c in COUNTS) + ", first_seen timestamp, last_seen timestamp")
GOLD_COLUMNS = ("batch_id", "created_at", "mentions", "label")


def partials(gold: pd.DataFrame, window: str) -> pd.DataFrame:
    """Per batch: counts per @mention (with first/last seen) and per epoch-aligned time window.

    Tweets without a time count in a window_start NULL row, so the window totals cover all of gold.
    """
    frame = gold.assign(window_start=gold["created_at"].dt.floor(pd.Timedelta(window)))
    mentions = frame.explode("mentions").dropna(subset=["mentions"]).rename(columns={"mentions": "mention"})
    per_mention = _counted(mentions, ["batch_id", "mention"])
    extremes = mentions.groupby(["batch_id", "mention"])["created_at"].agg(first_seen="min", last_seen="max")
    per_mention = per_mention.join(extremes).reset_index().assign(kind=MENTION)
    per_window = _counted(frame, ["batch_id", "window_start"]).reset_index().assign(kind=WINDOW)
    per_window["window_end"] = per_window["window_start"] + pd.Timedelta(window)
    return _shaped(pd.concat([per_mention, per_window], ignore_index=True))


def _counted(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts per label and in total for each group of `by` (a NULL group counts too)."""
    if frame.empty:
        empty = pd.MultiIndex.from_arrays([[]] * len(by), names=by)
        return pd.DataFrame({c: pd.Series([], dtype="int64") for c in COUNTS}, index=empty)
    counts = frame.groupby([*by, "label"], dropna=False).size().unstack("label", fill_value=0)
    counts = counts.reindex(columns=list(LABELS), fill_value=0).rename_axis(columns=None)
    counts["total"] = counts.sum(axis=1)
    return counts


def _shaped(frame: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """All ledger columns (and `extra` ones), in order, with counts as int64 and '' mentions as NULL."""
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NaT if column in ("window_start", "window_end", *EXTREMES) else None
    frame = frame[[*COLUMNS, *extra]].copy()
    frame["mention"] = frame["mention"].where(frame["mention"].fillna("") != "", None)
    frame[list(COUNTS)] = frame[list(COUNTS)].fillna(0).astype("int64")
    for column in ("window_start", "window_end", *EXTREMES):
        frame[column] = pd.to_datetime(frame[column])
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Folded:
    """The ledger version a fold produced and the batch's partial rows (every key it touched)."""

    version: int
    partial: pd.DataFrame

    def touched_windows(self) -> pd.Series:
        return windows_of(self.partial)["window_start"].sort_values().reset_index(drop=True)


def fold_batches(session, path: str, batch_ids: list[str], new: pd.DataFrame) -> Folded:
    """Folds several batches' partials (`new`): the ones the ledger holds nothing of in ONE MERGE, the others one by
    one (fold_batch). Returns the version after the last fold and every folded batch's partial rows.

    A stream makes many small batches, and a MERGE per batch cost a fold run seconds per batch. For
    batches the ledger never held there is nothing to replace: their partials are inserted and the
    totals move by their sum. A concurrent fold of one of them makes the MERGE conflict, and the
    retry finds it held.
    """
    predicate = delta_tables.batches_predicate(batch_ids)

    def attempt() -> tuple[list[str], pd.DataFrame]:
        held = read_where(session, path, predicate)
        if held is None:
            _create(session, path)
        fresh = [b for b in batch_ids if held is None or b not in set(held["batch_id"])]
        partial = _shaped(new[new["batch_id"].isin(fresh)].copy())
        if len(partial):
            source = pd.concat([partial.assign(mode="set"), _totals(partial).assign(mode="add")], ignore_index=True)
            frame = session.createDataFrame(_shaped(source, extra=("mode",)), SCHEMA + ", mode string")
            with temp_view(frame, "ledger_source") as view:
                session.sql(_merge_sql(path, fresh, view))
        return fresh, partial

    fresh, partial = delta_tables.retry_on_conflict(attempt)
    refolded = [fold_batch(session, path, b, new[new["batch_id"] == b]) for b in batch_ids if b not in fresh]
    rows = pd.concat([partial, *(f.partial for f in refolded)], ignore_index=True)
    return Folded(latest_version(session, path), _shaped(rows))


def fold_batch(session, path: str, batch_id: str, new: pd.DataFrame) -> Folded:
    """Replaces `batch_id`'s partials with `new` and moves the totals by the difference.

    One MERGE does both, so the two never disagree, and a concurrent fold of the same batch makes
    it conflict and retry. Keys the batch no longer has stay as zero-count rows of the batch, so
    its partition names every key it ever touched. A key whose first/last seen may have moved back
    (the batch lost or changed its extreme) gets them recomputed from every batch's partials.
    """
    delta_tables.batch_predicate(batch_id)

    def attempt() -> Folded:
        held = read_where(session, path, f"batch_id = '{batch_id}'")
        if held is None:
            _create(session, path)
        old = _keyed(_shaped(pd.DataFrame(columns=list(COLUMNS)) if held is None else held))
        partial = _filled(_keyed(new[new["batch_id"] == batch_id]), old.index.union(_keyed(new).index), old)
        added = partial.copy()
        added[list(COUNTS)] = partial[list(COUNTS)] - old[list(COUNTS)].reindex(partial.index).fillna(0)
        moved = _moved_back(old, partial)
        added["mode"] = "add"
        if len(moved):
            added.loc[moved, list(EXTREMES)] = _extremes_of(session, path, batch_id, partial, moved)
            added.loc[moved, "mode"] = "reset"
        source = pd.concat([partial.assign(batch_id=batch_id, mode="set"), added.assign(batch_id=TOTAL)],
                           ignore_index=True)
        frame = session.createDataFrame(_shaped(source, extra=("mode",)), SCHEMA + ", mode string")
        with temp_view(frame, "ledger_source") as view:
            session.sql(_merge_sql(path, [batch_id], view))
        return Folded(latest_version(session, path), _shaped(partial.assign(batch_id=batch_id)))

    return delta_tables.retry_on_conflict(attempt)


def _create(session, path: str) -> None:
    """An empty ledger, partitioned by batch_id (two runs creating it at once: one append conflicts, retries)."""
    empty = session.createDataFrame(_shaped(pd.DataFrame(columns=list(COLUMNS))), SCHEMA)
    empty.write.format("delta").mode("append").partitionBy("batch_id").save(path)


def _merge_sql(path: str, batch_ids: list[str], view: str) -> str:
    """Partial rows ('set') replace the batches'; totals rows add the difference ('add') or also reset first/last seen."""
    batches = ", ".join(f"'{b}'" for b in [*batch_ids, TOTAL])
    on = " AND ".join([f"t.batch_id IN ({batches})", "t.batch_id = s.batch_id",
                       *(f"t.{k} <=> s.{k}" for k in KEYS)])
    added = ", ".join([*(f"{c} = t.{c} + s.{c}" for c in COUNTS),
                       "first_seen = least(t.first_seen, s.first_seen)",
                       "last_seen = greatest(t.last_seen, s.last_seen)"])
    reset = ", ".join([*(f"{c} = t.{c} + s.{c}" for c in COUNTS), *(f"{c} = s.{c}" for c in EXTREMES)])
    replaced = ", ".join(f"{c} = s.{c}" for c in (*COUNTS, *EXTREMES, "window_end"))
    columns = ", ".join(COLUMNS)
    values = ", ".join(f"s.{c}" for c in COLUMNS)
    return f"""
        MERGE INTO delta.`{path}` t USING {view} s ON {on}
        WHEN MATCHED AND s.batch_id = '{TOTAL}' AND t.total + s.total = 0 THEN DELETE
        WHEN MATCHED AND s.mode = 'add' THEN UPDATE SET {added}
        WHEN MATCHED AND s.mode = 'reset' THEN UPDATE SET {reset}
        WHEN MATCHED THEN UPDATE SET {replaced}
        WHEN NOT MATCHED AND (s.batch_id <> '{TOTAL}' OR s.total > 0) THEN INSERT ({columns}) VALUES ({values})
    """


def latest_version(session, path: str) -> int:
    """The table's newest Delta version (DESCRIBE HISTORY)."""
    return int(session.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").select("version").first()[0])


def totals_for(session, path: str, version: int, mentions: list[str], ranges: list[tuple]) -> pd.DataFrame:
    """The ledger's total rows as of `version` for these mentions and for the windows starting in `ranges`.

    Only the keys a batch touched and their neighbourhood are read, so the cost follows the batch,
    not the number of mentions and windows ever seen.
    """
    wanted = [f"(kind = '{WINDOW}' AND ({ranges_predicate('window_start', ranges)}))"]
    if mentions:
        wanted.append(f"(kind = '{MENTION}' AND mention IN ({', '.join(sql_string(m) for m in mentions)}))")
    frame = (session.read.format("delta").option("versionAsOf", version).load(path)
             .where(f"batch_id = '{TOTAL}' AND ({' OR '.join(wanted)})").toPandas())
    return _shaped(frame)


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows indexed by one string naming (kind, mention, window_start), so NULL parts compare equal."""
    key = (frame["kind"].astype(str) + "|" + frame["mention"].fillna("").astype(str) + "|"
           + frame["window_start"].astype(str))
    return frame.set_index(key.rename("_key"))


def _filled(frame: pd.DataFrame, keys: pd.Index, fallback: pd.DataFrame) -> pd.DataFrame:
    """`frame` over `keys`: missing counts are 0, missing key columns come from `fallback`."""
    out = frame.reindex(keys)
    for column in ("kind", "mention", "window_start", "window_end"):
        out[column] = out[column].where(out[column].notna(), fallback[column].reindex(keys))
    out[list(COUNTS)] = out[list(COUNTS)].fillna(0)
    return out


def _moved_back(old: pd.DataFrame, partial: pd.DataFrame) -> pd.Index:
    """Mention keys the batch had whose first or last seen is now different (min/max cannot be undone)."""
    had = old[old["kind"] == MENTION]
    now = partial.reindex(had.index)
    same = pd.Series(True, index=had.index)
    for column in EXTREMES:
        same &= (had[column] == now[column]) | (had[column].isna() & now[column].isna())
    return had.index[~same]


def _extremes_of(session, path: str, batch_id: str, partial: pd.DataFrame, keys: pd.Index) -> np.ndarray:
    """First and last seen of mention `keys` over every other batch's partials and the batch's new ones."""
    mentions = ", ".join(sql_string(m) for m in partial.loc[keys, "mention"])
    others = read(session, path, f"batch_id NOT IN ('{batch_id}', '{TOTAL}') AND kind = '{MENTION}' "
                                 f"AND mention IN ({mentions})")
    rows = pd.concat([_keyed(others)[list(EXTREMES)], partial.loc[keys, list(EXTREMES)]])
    grouped = rows.groupby(level=0).agg(first_seen=("first_seen", "min"), last_seen=("last_seen", "max"))
    return grouped.reindex(keys)[list(EXTREMES)].to_numpy()


def read(session, path: str, predicate: str) -> pd.DataFrame:
    """Ledger rows matching `predicate` (none while the ledger does not exist yet)."""
    rows = read_where(session, path, predicate)
    return _shaped(pd.DataFrame(columns=list(COLUMNS)) if rows is None else rows)


def ledger_rows(gold: pd.DataFrame, window: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every batch's partials of `gold` (columns GOLD_COLUMNS) plus their totals, and the totals alone."""
    parts = partials(gold, window)
    totals = _totals(parts)
    return _shaped(pd.concat([parts, totals], ignore_index=True)), totals


def _totals(parts: pd.DataFrame) -> pd.DataFrame:
    """The `__total__` rows of partial rows: counts summed per key, first seen the earliest, last seen the latest."""
    summed = _keyed(parts).groupby(level=0).agg(
        kind=("kind", "first"), mention=("mention", "first"), window_start=("window_start", "first"),
        window_end=("window_end", "first"), **{c: (c, "sum") for c in COUNTS},
        first_seen=("first_seen", "min"), last_seen=("last_seen", "max"))
    return _shaped(summed.assign(batch_id=TOTAL))


def rebuild(session, path: str, gold: pd.DataFrame, window: str) -> tuple[int, pd.DataFrame]:
    """Overwrites the whole ledger from every gold batch; returns its version and the totals."""
    rows, totals = ledger_rows(gold, window)
    frame = session.createDataFrame(rows, SCHEMA)
    delta_tables.retry_on_conflict(lambda: frame.write.format("delta").mode("overwrite")
                                   .option("overwriteSchema", "true").partitionBy("batch_id").save(path))
    return latest_version(session, path), totals


def mentions_of(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["kind"] == MENTION]


def windows_of(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["kind"] == WINDOW) & rows["window_start"].notna()]
