"""A small logistic regression over transformer log-probabilities and VADER's four scores.

Class-balanced (`class_weight="balanced"`), so its decisions do not follow the training priors.
Stored as plain JSON so the scorer needs numpy only.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .models.labels import LABELS

INPUTS = ("transformer", "vader")
VADER_SCORES = ("neg", "neu", "pos", "compound")
_FLOOR = 1e-4


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

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - np.array(self.mean)) / np.array(self.scale)
        logits = z @ np.array(self.coef).T + np.array(self.intercept)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return asdict(self) | {"features": feature_names(self.inputs), "labels": list(LABELS)}

    @classmethod
    def from_dict(cls, payload: dict) -> "Stacker":
        if payload.get("labels", list(LABELS)) != list(LABELS):
            raise ValueError(f"stacker labels {payload.get('labels')} differ from {list(LABELS)}")
        return cls(**{k: payload[k] for k in ("inputs", "mean", "scale", "coef", "intercept")})


def fit_stacker(inputs: Sequence[str], x: np.ndarray, labels: Sequence[str], c: float = 1.0) -> Stacker:
    """Class-balanced multinomial logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    y = np.array([LABELS.index(label) for label in labels])
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit((x - mean) / scale, y)
    if list(model.classes_) != list(range(len(LABELS))):
        raise ValueError(f"the stacker needs every label among its training rows, got {sorted(set(labels))}")
    return Stacker(inputs=list(inputs), mean=mean.tolist(), scale=scale.tolist(), coef=model.coef_.tolist(),
                   intercept=model.intercept_.tolist())


def out_of_fold(inputs: Sequence[str], x: np.ndarray, labels: Sequence[str], folds: Sequence[int],
                extra_x: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Stacker probabilities for each fold from a stacker fitted on the other folds' rows.

    `extra_x` are other feature sets of the same rows (e.g. from int8 fold models) scored by the
    same per-fold stackers; returns (probabilities, {name: probabilities}).
    """
    folds = np.asarray(folds)
    labels = np.asarray(labels, dtype=object)
    out = np.zeros((len(folds), len(LABELS)))
    extra_out = {name: np.zeros_like(out) for name in (extra_x or {})}
    for fold in sorted(set(folds.tolist())):
        held = folds == fold
        stacker = fit_stacker(inputs, x[~held], list(labels[~held]))
        out[held] = stacker.predict_proba(x[held])
        for name, other in (extra_x or {}).items():
            extra_out[name][held] = stacker.predict_proba(other[held])
    return out, extra_out
