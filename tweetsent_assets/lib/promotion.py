"""Champion/challenger decision: paired bootstrap on a shared labelled set, margins and throughput floors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .sentiment.labels import LABELS

if TYPE_CHECKING:
    from .evaluation import EvaluationResult

METRICS = ("macro_recall", "accuracy", "macro_f1")
_MAX_CELLS_PER_CHUNK = 4_000_000


@dataclass
class Candidate:
    """One model's evaluation on the shared set; `available=False` with a reason if it failed to load."""

    name: str
    version: str | None
    available: bool
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    tweets_per_s: float = 0.0

    @classmethod
    def from_evaluation(cls, name: str, version: str | None, result: EvaluationResult) -> "Candidate":
        """An available candidate from an evaluate() result."""
        return cls(
            name=name, version=version, available=True, metrics=result.metrics(),
            predictions=result.predictions["predicted"].to_numpy(), tweets_per_s=result.tweets_per_s,
        )

    @classmethod
    def unavailable(cls, name: str, version: str | None, reason: str) -> "Candidate":
        """A candidate that could not be loaded or evaluated, with the reason shown in the decision."""
        return cls(name=name, version=version, available=False, reason=reason)


@dataclass
class Decision:
    """Outcome of `decide`; `winner` is the champion after the decision (None if there is none)."""

    promote: bool
    winner: Candidate | None
    previous: Candidate | None
    reason: str
    table: list[dict[str, Any]]


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


def decide(
    candidates: Sequence[Candidate], champion_name_or_version: str | None, labels: Sequence[str],
    primary_metric: str = "macro_recall", margin: float = 0.01, min_tweets_per_s: float = 0.0,
    n_boot: int = 1000, seed: int = 0,
) -> Decision:
    """Pick the best eligible challenger and promote it only if it beats the champion beyond `margin`.

    Promotion needs the paired-bootstrap lower bound of (challenger - champion) on `primary_metric`
    to exceed `margin`. With no champion the best eligible candidate is promoted outright; an
    unavailable or ineligible champion is kept, since nothing can be shown to beat it fairly.
    """
    if primary_metric not in METRICS:
        raise ValueError(f"primary_metric must be one of {METRICS}, got {primary_metric!r}")
    labels = list(labels)
    champion = _find(candidates, champion_name_or_version)
    scores = {id(c): _score(c, labels, primary_metric) for c in candidates}
    why_not = {id(c): _why_not(c, labels, scores[id(c)], min_tweets_per_s) for c in candidates}
    eligible = [c for c in candidates if not why_not[id(c)]]
    table = [
        {
            "name": c.name, "version": c.version, "available": c.available, primary_metric: scores[id(c)],
            "tweets_per_s": c.tweets_per_s, "eligible": not why_not[id(c)], "why_not": why_not[id(c)],
            "champion": c is champion,
        }
        for c in candidates
    ]
    challenger = max(eligible, key=lambda c: (scores[id(c)], c is champion), default=None)

    def result(promote: bool, winner: Candidate | None, reason: str) -> Decision:
        return Decision(promote=promote, winner=winner, previous=champion, reason=reason, table=table)

    if champion_name_or_version is not None and (champion is None or why_not[id(champion)]):
        problem = "is not among the evaluated candidates" if champion is None else f"is {why_not[id(champion)]}"
        best = f"; best eligible challenger was {_label(challenger)}" if challenger else ""
        return result(False, champion, f"Kept champion {champion_name_or_version}: it {problem}, so no challenger "
                                       f"can be compared with it and the aliases stay where they are{best}.")
    if challenger is None:
        reasons = "; ".join(f"{_label(c)}: {why_not[id(c)]}" for c in candidates) or "no candidates"
        return result(False, champion, f"Nobody promoted: no eligible candidate ({reasons}).")
    if champion is None:
        return result(True, challenger, f"Promoted {_label(challenger)}: there is no current champion and it is the "
                                        f"best eligible candidate ({primary_metric} {scores[id(challenger)]:.4f}); "
                                        "bootstrap skipped (nothing to compare with).")
    if challenger is champion:
        return result(False, champion, f"Kept champion {_label(champion)}: no eligible challenger beats its "
                                       f"{primary_metric} of {scores[id(champion)]:.4f}.")
    mean, lower, upper = paired_bootstrap(
        labels, champion.predictions, challenger.predictions, primary_metric, n_boot=n_boot, seed=seed,
    )
    observed = scores[id(challenger)] - scores[id(champion)]
    summary = (f"{_label(challenger)} vs champion {_label(champion)}: {primary_metric} {scores[id(challenger)]:.4f} vs "
               f"{scores[id(champion)]:.4f} (diff {observed:+.4f}, bootstrap mean {mean:+.4f}, "
               f"95% CI [{lower:+.4f}, {upper:+.4f}])")
    if observed > 0 and lower > margin:
        return result(True, challenger, f"Promoted {summary}; the CI lower bound {lower:+.4f} exceeds "
                                        f"the margin {margin:.4f}.")
    return result(False, champion, f"Kept champion: {summary}; the CI lower bound {lower:+.4f} does not exceed "
                                   f"the margin {margin:.4f}.")


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


def _find(candidates: Sequence[Candidate], key: str | None) -> Candidate | None:
    if key is None:
        return None
    by_version = [c for c in candidates if c.version is not None and str(c.version) == str(key)]
    return (by_version or [c for c in candidates if c.name == key] or [None])[0]


def _score(candidate: Candidate, labels: list[str], metric: str) -> float | None:
    if metric in candidate.metrics:
        return float(candidate.metrics[metric])
    if candidate.available and candidate.predictions is not None and len(candidate.predictions) == len(labels):
        return metric_value(labels, candidate.predictions, metric)
    return None


def _why_not(candidate: Candidate, labels: list[str], score: float | None, floor: float) -> str:
    if not candidate.available:
        return f"unavailable ({candidate.reason or 'no reason given'})"
    if candidate.predictions is None or len(candidate.predictions) != len(labels):
        return "predictions missing or not aligned with the evaluation labels"
    if score is None:
        return "no score"
    if candidate.tweets_per_s < floor:
        return f"too slow ({candidate.tweets_per_s:.1f} tweets/s < floor {floor:.1f})"
    return ""


def _label(candidate: Candidate | None) -> str:
    if candidate is None:
        return "none"
    return candidate.name if candidate.version is None else f"{candidate.name} (v{candidate.version})"
