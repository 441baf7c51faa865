"""Prediction drift per time window: sufficient statistics of scored tweets, and metrics against a baseline.

A set of scored tweets is summarised by counts that add up: tweets per label, a confidence
histogram on fixed bins, a text-length histogram on fixed bins, and the tweets with emoji, URLs
or hashtags. Per-batch summaries per window are summed, then compared with the baseline (the
champion's predictions on its evaluation tweets): population stability index and Jensen-Shannon
distance of the label mix, the share below a confidence threshold and a two-sample KS statistic
from the binned CDFs, a KS statistic of text lengths, and the shift of each feature share.
Everything here is plain pandas/numpy, so the same code summarises the baseline and gold.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..ingest.text_cleaning import URL, clean_text, extract_hashtags
from ..ml.models.labels import LABELS

CONFIDENCE_BINS = 100
LENGTH_STEP, LENGTH_BINS = 10, 29
FEATURES = ("emoji", "url", "hashtag")
COUNTS = (*LABELS, "total", *(f"with_{f}" for f in FEATURES))
HISTOGRAMS = ("confidence_hist", "length_hist")
STATS = (*COUNTS, *HISTOGRAMS)
EPSILON = 1e-4
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")
DRIFT_SCHEMA = ("window_start timestamp, window_end timestamp, total long, baseline_version string, "
                + ", ".join(f"share_{label} double" for label in LABELS) + ", "
                + "label_psi double, label_js double, share_low_confidence double, "
                  "baseline_share_low_confidence double, low_confidence_shift double, confidence_ks double, "
                  "length_ks double, "
                + ", ".join(f"share_{f} double, {f}_shift double" for f in FEATURES)
                + ", flagged boolean, flagged_metrics array<string>")
DRIFT_COLUMNS = [part.split()[0] for part in DRIFT_SCHEMA.split(", ")]


@dataclass(frozen=True)
class Thresholds:
    """Where a window counts as drifted: one limit per metric, and the tweets a window needs to be judged."""

    psi: float = 0.1
    js: float = 0.1
    ks: float = 0.15
    share_shift: float = 0.1
    low_confidence: float = 0.5
    min_tweets: int = 200

    def limits(self) -> dict[str, float]:
        """Metric name -> the value above which it flags a window."""
        return {"label_psi": self.psi, "label_js": self.js, "low_confidence_shift": self.share_shift,
                "confidence_ks": self.ks, "length_ks": self.ks,
                **{f"{f}_shift": self.share_shift for f in FEATURES}}


def tweet_features(texts: pd.Series, cleaned: pd.Series) -> pd.DataFrame:
    """Per tweet: length of the text the model sees, and whether the raw text has emoji, URLs or hashtags."""
    raw = texts.fillna("").astype(str)
    return pd.DataFrame({"length": cleaned.fillna("").astype(str).str.len().to_numpy(),
                         "emoji": raw.map(lambda t: bool(EMOJI.search(t))).to_numpy(),
                         "url": raw.map(lambda t: bool(URL.search(t))).to_numpy(),
                         "hashtag": raw.map(lambda t: bool(extract_hashtags(t))).to_numpy()}, index=texts.index)


def scored_tweets(texts, labels, scores, cleaned=None) -> pd.DataFrame:
    """Tweets as summarise() takes them: text, cleaned_text (clean_text of text unless given), label, score."""
    texts = pd.Series(list(texts), dtype=object)
    cleaned = texts.map(clean_text) if cleaned is None else pd.Series(list(cleaned), dtype=object)
    return pd.DataFrame({"text": texts, "cleaned_text": cleaned, "label": list(labels),
                         "score": np.asarray(list(scores), dtype=float)})


def summarise(tweets: pd.DataFrame) -> dict:
    """The sufficient statistics of scored tweets (columns text, cleaned_text, label, score)."""
    features = tweet_features(tweets["text"], tweets["cleaned_text"])
    confidence = np.clip((tweets["score"].to_numpy(dtype=float) * CONFIDENCE_BINS).astype(int), 0,
                         CONFIDENCE_BINS - 1)
    length = np.clip(features["length"].to_numpy() // LENGTH_STEP, 0, LENGTH_BINS - 1)
    labels = tweets["label"].value_counts()
    return {**{label: int(labels.get(label, 0)) for label in LABELS}, "total": len(tweets),
            **{f"with_{f}": int(features[f].sum()) for f in FEATURES},
            "confidence_hist": np.bincount(confidence, minlength=CONFIDENCE_BINS).tolist(),
            "length_hist": np.bincount(length, minlength=LENGTH_BINS).tolist()}


def batch_stats(gold: pd.DataFrame, window: str) -> pd.DataFrame:
    """Per batch and epoch-aligned time window of `gold`: its statistics (tweets without a time are left out)."""
    timed = gold.dropna(subset=["created_at"])
    keys = timed.assign(window_start=timed["created_at"].dt.floor(pd.Timedelta(window)))
    rows = [{"batch_id": batch, "window_start": start, "window_end": start + pd.Timedelta(window), **summarise(group)}
            for (batch, start), group in keys.groupby(["batch_id", "window_start"], sort=True)]
    return pd.DataFrame(rows, columns=["batch_id", "window_start", "window_end", *STATS])


def summed(stats: pd.DataFrame) -> pd.DataFrame:
    """Statistics of several batches summed per window (histograms element-wise)."""
    rows = []
    for (start, end), group in stats.groupby(["window_start", "window_end"], sort=True):
        rows.append({"window_start": start, "window_end": end,
                     **{c: int(group[c].sum()) for c in COUNTS},
                     **{h: np.sum(np.stack([np.asarray(v, dtype=np.int64) for v in group[h]]), axis=0).tolist()
                        for h in HISTOGRAMS}})
    return pd.DataFrame(rows, columns=["window_start", "window_end", *STATS])


def psi(actual, expected) -> float:
    """Population stability index of two distributions (shares floored at EPSILON, so empty classes stay finite)."""
    p, q = _floored(actual), _floored(expected)
    return float(np.sum((p - q) * np.log(p / q)))


def js_distance(actual, expected) -> float:
    """Jensen-Shannon distance (square root of the divergence, base 2: 0 same, 1 disjoint)."""
    p, q = _shares(actual), _shares(expected)
    m = (p + q) / 2

    def kl(a):
        inside = a > 0
        return float(np.sum(a[inside] * np.log2(a[inside] / m[inside])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


def ks_statistic(hist_a, hist_b) -> float:
    """Two-sample Kolmogorov-Smirnov statistic from counts on the same bins: the largest gap of the CDFs."""
    a, b = np.cumsum(hist_a, dtype=float), np.cumsum(hist_b, dtype=float)
    if not a[-1] or not b[-1]:
        return float("nan")
    return float(np.max(np.abs(a / a[-1] - b / b[-1])))


def share_below(confidence_hist, threshold: float) -> float:
    """Share of tweets whose confidence is below `threshold` (rounded to the bins' 1/CONFIDENCE_BINS)."""
    counts = np.asarray(confidence_hist, dtype=float)
    return float(counts[:int(round(threshold * CONFIDENCE_BINS))].sum() / counts.sum()) if counts.sum() else float("nan")


def _shares(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()


def _floored(counts) -> np.ndarray:
    shares = np.maximum(_shares(counts), EPSILON)
    return shares / shares.sum()


def shares(stats: dict, low_confidence: float) -> dict:
    """A summary's shares: of each label, of predictions below the confidence threshold, of each feature."""
    return {**{f"share_{label}": stats[label] / stats["total"] for label in LABELS},
            "share_low_confidence": share_below(stats["confidence_hist"], low_confidence),
            **{f"share_{f}": stats[f"with_{f}"] / stats["total"] for f in FEATURES}}


def compare(stats: dict, baseline: dict, thresholds: Thresholds) -> dict:
    """One window's (or any summary's) shares and metrics against the baseline, and which cross their thresholds."""
    own, base = shares(stats, thresholds.low_confidence), shares(baseline, thresholds.low_confidence)
    labels, base_labels = ([s[label] for label in LABELS] for s in (stats, baseline))
    metrics = {**own, "label_psi": psi(labels, base_labels), "label_js": js_distance(labels, base_labels),
               "baseline_share_low_confidence": base["share_low_confidence"],
               "low_confidence_shift": abs(own["share_low_confidence"] - base["share_low_confidence"]),
               "confidence_ks": ks_statistic(stats["confidence_hist"], baseline["confidence_hist"]),
               "length_ks": ks_statistic(stats["length_hist"], baseline["length_hist"]),
               **{f"{f}_shift": abs(own[f"share_{f}"] - base[f"share_{f}"]) for f in FEATURES}}
    judged = stats["total"] >= thresholds.min_tweets
    crossed = [m for m, limit in thresholds.limits().items() if judged and metrics[m] > limit]
    return {**metrics, "flagged_metrics": crossed, "flagged": bool(crossed)}


def window_metrics(windows: pd.DataFrame, baseline: "Baseline | None", thresholds: Thresholds) -> pd.DataFrame:
    """Per summed window: its tweets, shares, and metrics and flags against `baseline` (none without one)."""
    rows = []
    for window in windows.to_dict("records"):
        row = {"window_start": window["window_start"], "window_end": window["window_end"], "total": window["total"]}
        if window["total"]:
            row.update(shares(window, thresholds.low_confidence))
        if baseline is not None and window["total"]:
            row.update(compare(window, baseline.stats, thresholds), baseline_version=baseline.model_version)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    frame["baseline_version"] = frame["baseline_version"].astype(object).where(frame["baseline_version"].notna(), None)
    frame["flagged"] = frame["flagged"].eq(True)
    frame["flagged_metrics"] = frame["flagged_metrics"].map(lambda v: list(v) if isinstance(v, list) else [])
    return frame


def flagged_windows(rows: pd.DataFrame | None) -> pd.DataFrame:
    """The flagged rows of prediction_drift, oldest first: window, tweets, baseline version and metrics crossed."""
    shown = ["window_start", "total", "baseline_version", "flagged_metrics"]
    if rows is None or rows.empty:
        return pd.DataFrame(columns=shown)
    flagged = rows[rows["flagged"].astype(bool)].sort_values("window_start")
    return flagged.assign(flagged_metrics=flagged["flagged_metrics"].map(", ".join))[shown].reset_index(drop=True)


@dataclass(frozen=True)
class Baseline:
    """The champion's statistics on its evaluation tweets, with the model version they belong to."""

    model_version: str
    stats: dict

    @classmethod
    def of(cls, model_version: str, tweets: pd.DataFrame) -> "Baseline":
        return cls(str(model_version), summarise(tweets))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "Baseline":
        return cls(str(raw["model_version"]), {k: raw["stats"][k] for k in STATS})
