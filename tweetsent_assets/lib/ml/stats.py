"""Metrics and bootstrap intervals on label sequences, computed from confusion counts (sklearn-equal)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .models.labels import LABELS

METRICS = ("macro_recall", "accuracy", "macro_f1")
_MAX_CELLS_PER_CHUNK = 4_000_000


def paired_bootstrap(
    labels: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str], metric: str = "macro_recall",
    n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Mean and (1 - alpha) percentile interval of metric(b) - metric(a) over paired resamples.

    Both models are scored on the same resampled indices, so per-example agreement cancels out
    and the interval reflects only where they differ.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    truth, a, b = _codes(labels), _codes(pred_a), _codes(pred_b)
    if not (len(truth) == len(a) == len(b)) or len(truth) == 0:
        raise ValueError(f"need equally long, non-empty labels and predictions, got {len(truth)}, {len(a)}, {len(b)}")
    n = len(truth)
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS_PER_CHUNK // n)
    diffs = []
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(rows, n))
        diffs.append(_metric(_confusions(truth, b, idx), metric) - _metric(_confusions(truth, a, idx), metric))
    diff = np.concatenate(diffs)
    lower, upper = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    return float(diff.mean()), float(lower), float(upper)


def bootstrap_interval(
    labels: Sequence[str], predicted: Sequence[str], metric: str = "macro_recall", n_boot: int = 1000, seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """(1 - alpha) percentile bootstrap interval of one model's `metric` over resampled examples."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    truth, pred = _codes(labels), _codes(predicted)
    if len(truth) != len(pred) or len(truth) == 0:
        raise ValueError(f"need equally long, non-empty labels and predictions, got {len(truth)}, {len(pred)}")
    idx = np.random.default_rng(seed).integers(0, len(truth), size=(n_boot, len(truth)))
    lower, upper = np.quantile(_metric(_confusions(truth, pred, idx), metric), [alpha / 2, 1 - alpha / 2])
    return float(lower), float(upper)


def metric_value(labels: Sequence[str], predicted: Sequence[str], metric: str = "macro_recall") -> float:
    """`metric` of `predicted` against `labels`, computed as in the bootstrap (sklearn-equal, zero_division=0)."""
    truth, pred = _codes(labels), _codes(predicted)
    return float(_metric(_confusions(truth, pred, np.arange(len(truth))[None, :]), metric)[0])


def _codes(values: Sequence[str]) -> np.ndarray:
    values = np.asarray(values, dtype=object)
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, label in enumerate(LABELS):
        codes[values == label] = i
    if (codes < 0).any():
        raise ValueError(f"labels not in {LABELS}: {sorted({str(v) for v in values[codes < 0]})}")
    return codes


def _confusions(truth: np.ndarray, pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(rows, k, k) confusion counts of each resample of indices `idx` (rows, n)."""
    k = len(LABELS)
    cells = truth[idx] * k + pred[idx] + (np.arange(idx.shape[0]) * k * k)[:, None]
    return np.bincount(cells.ravel(), minlength=idx.shape[0] * k * k).reshape(-1, k, k)


def _metric(confusions: np.ndarray, metric: str) -> np.ndarray:
    """`metric` per confusion matrix, matching sklearn with labels=LABELS and zero_division=0."""
    correct = np.diagonal(confusions, axis1=1, axis2=2).astype(np.float64)
    if metric == "accuracy":
        return correct.sum(axis=1) / confusions.sum(axis=(1, 2))
    actual = confusions.sum(axis=2)
    if metric == "macro_recall":
        recall = np.divide(correct, actual, out=np.zeros_like(correct), where=actual > 0)
        return recall.mean(axis=1)
    denominator = actual + confusions.sum(axis=1)
    f1 = np.divide(2 * correct, denominator, out=np.zeros_like(correct), where=denominator > 0)
    return f1.mean(axis=1)
