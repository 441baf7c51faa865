"""A small logistic regression over transformer log-probabilities and VADER's four scores.

Its decisions do not follow the training priors: either the fit is class-balanced
(`class_weight="balanced"`, tau None) or the fit is plain and tau * log(training prior) is
subtracted from its logits (logit adjustment), with tau fixed or chosen out-of-fold.
Stored as plain JSON so the scorer needs numpy only.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .models.labels import LABELS
from .stats import metric_value

INPUTS = ("transformer", "vader")
VADER_SCORES = ("neg", "neu", "pos", "compound")
_FLOOR = 1e-4
TAU_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)
TAU_OUT_OF_FOLD = "oof"
_INNER_FOLDS = 3


def feature_names(inputs: Sequence[str]) -> list[str]:
    """Column names of the stacker's features for `inputs` (a subset of INPUTS, in that order)."""
    names = []
    if "transformer" in inputs:
        names += [f"log_p_{label}" for label in LABELS]
    if "vader" in inputs:
        names += [f"vader_{score}" for score in VADER_SCORES]
    return names


def features(inputs: Sequence[str], transformer_probs: np.ndarray | None, vader: np.ndarray | None) -> np.ndarray:
    """(n, d) features: log transformer probabilities and/or VADER's neg/neu/pos/compound."""
    unknown = set(inputs) - set(INPUTS)
    if unknown or not inputs:
        raise ValueError(f"stacker inputs must be a non-empty subset of {INPUTS}, got {list(inputs)}")
    parts = []
    if "transformer" in inputs:
        parts.append(np.log(np.clip(np.asarray(transformer_probs, dtype=np.float64), _FLOOR, 1.0)))
    if "vader" in inputs:
        parts.append(np.asarray(vader, dtype=np.float64).reshape(-1, len(VADER_SCORES)))
    return np.hstack(parts)


def vader_scores(texts: Sequence[str], analyzer=None) -> np.ndarray:
    """(n, 4) VADER polarity scores neg, neu, pos, compound."""
    if analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
    rows = [analyzer.polarity_scores(t) for t in texts]
    return np.array([[row[s] for s in VADER_SCORES] for row in rows], dtype=np.float64).reshape(-1, 4)


@dataclass
class Stacker:
    """Standardised features -> multinomial logistic regression; probabilities in LABELS order."""

    inputs: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]
    tau: float | None = None
    log_prior: list[float] | None = None

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - np.array(self.mean)) / np.array(self.scale)
        logits = z @ np.array(self.coef).T + np.array(self.intercept)
        if self.tau is not None:
            logits -= self.tau * np.array(self.log_prior)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return asdict(self) | {"features": feature_names(self.inputs), "labels": list(LABELS)}

    @classmethod
    def from_dict(cls, payload: dict) -> "Stacker":
        if payload.get("labels", list(LABELS)) != list(LABELS):
            raise ValueError(f"stacker labels {payload.get('labels')} differ from {list(LABELS)}")
        fields = ("inputs", "mean", "scale", "coef", "intercept", "tau", "log_prior")
        return cls(**{k: payload[k] for k in fields if k in payload})


def check_tau(tau: float | str | None) -> float | str | None:
    """None (class-balanced fit), a number >= 0, or "oof"; ValueError naming anything else."""
    if tau is None or tau == TAU_OUT_OF_FOLD or (isinstance(tau, (int, float)) and tau >= 0):
        return tau
    raise ValueError(f"stacker tau must be None (class-balanced), a number >= 0 or {TAU_OUT_OF_FOLD!r}, got {tau!r}")


def parse_tau(text: str) -> float | str | None:
    """Asset config's tau: "balanced" (None), "oof", or a number >= 0; ValueError naming the input."""
    if text in ("balanced", TAU_OUT_OF_FOLD):
        return None if text == "balanced" else text
    try:
        return check_tau(float(text))
    except ValueError:
        raise ValueError(f"stacker tau must be 'balanced', {TAU_OUT_OF_FOLD!r} or a number >= 0, "
                         f"got {text!r}") from None


def fit_stacker(inputs: Sequence[str], x: np.ndarray, labels: Sequence[str], c: float = 1.0,
                tau: float | str | None = None) -> Stacker:
    """Multinomial logistic regression on standardised features, class-balanced or logit-adjusted.

    tau None: class-balanced fit. A number: plain fit whose logits lose tau * log(training prior).
    "oof": that, with tau from TAU_GRID chosen by macro recall over inner folds of these rows.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.array([LABELS.index(label) for label in labels])
    if check_tau(tau) == TAU_OUT_OF_FOLD:
        tau = choose_tau(x, y, c)
    mean, scale = _standardisation(x)
    model = _regression((x - mean) / scale, y, c, balanced=tau is None)
    stacker = Stacker(inputs=list(inputs), mean=mean.tolist(), scale=scale.tolist(), coef=model.coef_.tolist(),
                      intercept=model.intercept_.tolist())
    if tau is not None:
        stacker.tau, stacker.log_prior = float(tau), np.log(np.bincount(y, minlength=len(LABELS)) / len(y)).tolist()
    return stacker


def choose_tau(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> float:
    """The TAU_GRID value with the best macro recall over label-stratified inner folds (ties: the smaller)."""
    folds = np.empty(len(y), dtype=int)
    rng = np.random.RandomState(0)
    for label in range(len(LABELS)):
        rows = rng.permutation(np.flatnonzero(y == label))
        folds[rows] = np.arange(len(rows)) % _INNER_FOLDS
    logits = np.zeros((len(y), len(LABELS)))
    log_prior = np.zeros_like(logits)
    for fold in range(_INNER_FOLDS):
        held = folds == fold
        mean, scale = _standardisation(x[~held])
        logits[held] = _regression((x[~held] - mean) / scale, y[~held], c, balanced=False).decision_function(
            (x[held] - mean) / scale)
        log_prior[held] = np.log(np.bincount(y[~held], minlength=len(LABELS)) / (~held).sum())
    truth = [LABELS[i] for i in y]
    scores = [metric_value(truth, [LABELS[i] for i in (logits - tau * log_prior).argmax(axis=1)])
              for tau in TAU_GRID]
    return TAU_GRID[int(np.argmax(scores))]


def _standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (1 where a column is constant)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def _regression(z: np.ndarray, y: np.ndarray, c: float, balanced: bool):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000).fit(z, y)
    if list(model.classes_) != list(range(len(LABELS))):
        raise ValueError(f"the stacker needs every label among its training rows, got "
                         f"{sorted(LABELS[i] for i in set(y.tolist()))}")
    return model


def out_of_fold(inputs: Sequence[str], x: np.ndarray, labels: Sequence[str], folds: Sequence[int],
                extra_x: dict[str, np.ndarray] | None = None,
                tau: float | str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Stacker probabilities for each fold from a stacker fitted on the other folds' rows.

    `extra_x` are other feature sets of the same rows (e.g. from int8 fold models) scored by the
    same per-fold stackers; returns (probabilities, {name: probabilities}). With tau "oof" each
    fold's stacker chooses its tau from its own rows only.
    """
    folds = np.asarray(folds)
    labels = np.asarray(labels, dtype=object)
    out = np.zeros((len(folds), len(LABELS)))
    extra_out = {name: np.zeros_like(out) for name in (extra_x or {})}
    for fold in sorted(set(folds.tolist())):
        held = folds == fold
        stacker = fit_stacker(inputs, x[~held], list(labels[~held]), tau=tau)
        out[held] = stacker.predict_proba(x[held])
        for name, other in (extra_x or {}).items():
            extra_out[name][held] = stacker.predict_proba(other[held])
    return out, extra_out
