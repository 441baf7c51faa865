"""What every sentiment model shares: its specification, its predictions and its interface (no implementation)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .labels import LABELS

KINDS = ("hf", "vader", "mlflow", "stack")
_PINNED_MODEL_URI = re.compile(r"^models:/[^/@]+/\d+$")
DEFAULT_HF_MODEL = "cardiffnlp/twitter-roberta-base-sentiment-latest"
# Texts per forward pass: at one torch thread per Spark slot, 32 scored fastest for fp32 and int8 MiniLM.
DEFAULT_BATCH_SIZE = 32


class ModelUnavailableError(RuntimeError):
    """The requested model cannot be loaded here (not cached locally and the hub is unreachable)."""


@dataclass(frozen=True)
class ModelSpec:
    """What to load; small and picklable so Spark executors can load the model themselves."""

    kind: str
    model: str | None
    name: str
    version: str = ""
    max_length: int = 128
    batch_size: int = DEFAULT_BATCH_SIZE
    tracking_uri: str | None = None
    quantize: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "mlflow" and not _PINNED_MODEL_URI.match(self.model or ""):
            raise ValueError(f"kind 'mlflow' needs a pinned model URI like models:/name/3, got {self.model!r}")
        if self.max_length < 1 or self.batch_size < 1:
            raise ValueError("max_length and batch_size must be positive")


@dataclass
class Predictions:
    """Per-text label, probability of that label, and (n, 3) probabilities in LABELS order."""

    labels: list[str]
    scores: list[float]
    probabilities: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray) -> "Predictions":
        """Predictions taking the most probable label for each row."""
        probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(LABELS))
        best = probabilities.argmax(axis=1)
        return cls(
            labels=[LABELS[i] for i in best],
            scores=probabilities[np.arange(len(best)), best].tolist(),
            probabilities=probabilities,
        )


@runtime_checkable
class SentimentModel(Protocol):
    name: str
    version: str

    def predict(self, texts: list[str]) -> Predictions: ...
