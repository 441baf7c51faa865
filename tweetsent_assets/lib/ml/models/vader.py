"""VADER lexicon baseline: rule-based, no weights to download, fast on CPU."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from .labels import LABELS
from .types import ModelSpec, Predictions

THRESHOLD = 0.05
# Softmax sharpness: compound 0.9 -> ~0.97 positive, compound 0.3 -> ~0.7 positive.
TEMPERATURE = 4.0
# VADER rounds compound to 4 decimals; putting the neutral logit half a step below the threshold
# makes the softmax argmax agree with the >=/<= 0.05 rule for every value VADER can return.
_NEUTRAL_LOGIT = TEMPERATURE * (THRESHOLD - 0.00005)


def label_for(compound: float) -> str:
    """VADER's documented rule: >= 0.05 positive, <= -0.05 negative, otherwise neutral."""
    if compound >= THRESHOLD:
        return "positive"
    if compound <= -THRESHOLD:
        return "negative"
    return "neutral"


def compound_probabilities(compound: np.ndarray) -> np.ndarray:
    """(n, 3) probabilities as softmax(T * [-c, 0.05, c]) over the compound score c.

    VADER's own neg/neu/pos proportions are dominated by `neu` even for clearly polar text, so
    they do not agree with its compound-based label; this mapping does, and is monotone in c.
    """
    c = np.asarray(compound, dtype=np.float64).reshape(-1, 1)
    logits = np.hstack([-TEMPERATURE * c, np.full_like(c, _NEUTRAL_LOGIT), TEMPERATURE * c])
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def _vader_version() -> str:
    try:
        return "vaderSentiment-" + package_version("vaderSentiment")
    except PackageNotFoundError:
        return "vaderSentiment"


class VaderModel:
    """SentimentModel over vaderSentiment's SentimentIntensityAnalyzer."""

    def __init__(self, spec: ModelSpec) -> None:
        self.name = spec.name
        self.version = spec.version or _vader_version()
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, texts: list[str]) -> np.ndarray:
        return np.array([self._analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)

    def predict(self, texts: list[str]) -> Predictions:
        compound = self.compound(list(texts))
        probabilities = compound_probabilities(compound)
        labels = [label_for(c) for c in compound]
        scores = [float(p[LABELS.index(label)]) for p, label in zip(probabilities, labels)]
        return Predictions(labels=labels, scores=scores, probabilities=probabilities)
