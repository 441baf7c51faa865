"""Sentiment shares per time window, their rolling means, and windows whose negative share spikes.

The per-window tables are small (one row per window), so shares and baselines are computed in
pandas on the driver; only the top terms of flagged windows are looked up in gold with Spark.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..ml.models.labels import LABELS

SPIKE_COLUMNS = ("window_start", "window_end", "negative", "total", "share_negative", "baseline_share_negative",
                 "baseline_std", "baseline_windows", "z_score", "direction")


def with_shares(trends: pd.DataFrame, rolling: str) -> pd.DataFrame:
    """Adds share_<label> per window and rolling_share_<label> over the trailing `rolling` span.

    The rolling share pools the counts of the windows in (start - rolling, start], so a quiet
    window weighs as little as its few tweets; windows are ordered by window_start.
    """
    frame = trends.sort_values("window_start").reset_index(drop=True)
    for label in LABELS:
        frame[f"share_{label}"] = frame[label] / frame["total"].where(frame["total"] > 0)
    sums = frame.set_index("window_start")[[*LABELS, "total"]].rolling(pd.Timedelta(rolling)).sum()
    for label in LABELS:
        frame[f"rolling_share_{label}"] = (sums[label] / sums["total"]).to_numpy()
    return frame


def score_windows(trends: pd.DataFrame, baseline: str, min_tweets: int = 1) -> pd.DataFrame:
    """Each window's negative share against the windows of the preceding `baseline` span (itself excluded).

    The scale is the larger of the spread of the baseline windows' shares (windows with at least
    `min_tweets` tweets, so a quiet night does not inflate it) and the binomial standard error of
    this window's share, so a window of a few tweets cannot fake a spike either.
    """
    frame = trends.sort_values("window_start").reset_index(drop=True)
    share = (frame["negative"] / frame["total"].where(frame["total"] > 0)).to_numpy(dtype=float)
    indexed = pd.DataFrame({"negative": frame["negative"].to_numpy(dtype=float),
                            "total": frame["total"].to_numpy(dtype=float),
                            "share": np.where(frame["total"].to_numpy() >= min_tweets, share, np.nan)},
                           index=pd.DatetimeIndex(frame["window_start"]))
    past = indexed.rolling(pd.Timedelta(baseline), closed="left")
    sums, spread, count = past.sum(), past["share"].std(), past["share"].count()
    pooled = (sums["negative"] / sums["total"]).to_numpy()
    smoothed = (sums["negative"].to_numpy() + 1) / (sums["total"].to_numpy() + 2)
    sampling = np.sqrt(smoothed * (1 - smoothed) / frame["total"].to_numpy(dtype=float))
    scale = np.fmax(spread.to_numpy(), sampling)
    z = (share - pooled) / scale
    return frame.assign(share_negative=share, baseline_share_negative=pooled, baseline_std=scale,
                        baseline_windows=count.fillna(0).to_numpy().astype("int64"), z_score=z,
                        direction=np.where(z >= 0, "up", "down"))


def detect_spikes(trends: pd.DataFrame, z: float, baseline: str, min_baseline_windows: int = 6,
                  min_tweets: int = 10, two_sided: bool = True) -> pd.DataFrame:
    """Windows whose negative share departs from its rolling baseline by more than `z` standard deviations.

    Only windows with at least `min_tweets` tweets and `min_baseline_windows` earlier windows in
    the baseline span count; with `two_sided` False only rises are flagged.
    """
    scored = score_windows(trends, baseline, min_tweets)
    keep = is_spike(scored, z, min_baseline_windows, min_tweets, two_sided)
    return scored.loc[keep, list(SPIKE_COLUMNS)].reset_index(drop=True)


def is_spike(scored: pd.DataFrame, z: float, min_baseline_windows: int = 6, min_tweets: int = 10,
             two_sided: bool = True) -> pd.Series:
    """Which rows of score_windows' result detect_spikes flags."""
    departure = scored["z_score"] if not two_sided else scored["z_score"].abs()
    return (scored["baseline_windows"] >= min_baseline_windows) & (scored["total"] >= min_tweets) & (departure > z)


def window_top_terms(gold, windows, column: str, n: int):
    """Spark: per window of `windows` (window_start, window_end), the `n` most frequent entries of gold's array `column`.

    Returns (window_start, top_<column>) with the terms ordered by count, then alphabetically.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    term = column.rstrip("s")
    inside = (F.col("g.created_at") >= F.col("w.window_start")) & (F.col("g.created_at") < F.col("w.window_end"))
    counted = (gold.alias("g").join(F.broadcast(windows.select("window_start", "window_end").alias("w")), inside)
               .select(F.col("w.window_start").alias("window_start"), F.explode(f"g.{column}").alias(term))
               .groupBy("window_start", term).count())
    rank = F.row_number().over(Window.partitionBy("window_start").orderBy(F.desc("count"), term))
    return (counted.withColumn("rank", rank).where(F.col("rank") <= n)
            .groupBy("window_start")
            .agg(F.sort_array(F.collect_list(F.struct("rank", term))).alias("ranked"))
            .select("window_start", F.col(f"ranked.{term}").alias(f"top_{column}")))
