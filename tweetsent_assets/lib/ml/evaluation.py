"""Evaluate a sentiment model on labelled texts: quality metrics, throughput and a confusion-matrix plot."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

from .models.labels import LABELS
from .models.types import DEFAULT_BATCH_SIZE, SentimentModel
from .stats import bootstrap_interval

PREDICTION_COLUMNS = ("text", "label", "predicted", "score", "p_negative", "p_neutral", "p_positive", "correct")


@dataclass
class EvaluationResult:
    """Metrics of one model on one labelled set, plus its per-example predictions."""

    accuracy: float
    macro_f1: float
    macro_recall: float
    precision: dict[str, float]
    recall: dict[str, float]
    confusion: list[list[int]]
    n: int
    tweets_per_s: float
    p95_batch_latency_s: float
    predictions: pd.DataFrame = field(repr=False)
    macro_recall_ci: tuple[float, float] = (float("nan"), float("nan"))

    def metrics(self) -> dict[str, float]:
        """Flat float metrics for mlflow.log_metrics."""
        flat = {
            "accuracy": self.accuracy, "macro_f1": self.macro_f1, "macro_recall": self.macro_recall,
            "n": float(self.n), "tweets_per_s": self.tweets_per_s, "p95_batch_latency_s": self.p95_batch_latency_s,
            "macro_recall_ci_low": self.macro_recall_ci[0], "macro_recall_ci_high": self.macro_recall_ci[1],
        }
        for label in LABELS:
            flat[f"precision_{label}"] = self.precision[label]
            flat[f"recall_{label}"] = self.recall[label]
        return {key: float(value) for key, value in flat.items()}


def evaluate(
    model: SentimentModel, texts: Sequence[str], labels: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE,
    probabilities: np.ndarray | None = None,
) -> EvaluationResult:
    """Predict `texts` in fixed-size timed batches and score against `labels` (each one of LABELS).

    `probabilities` ((n, 3), e.g. out-of-fold predictions of a cross-fitted model) replace the
    model's own for the quality metrics; the model still predicts every text, for throughput.
    The macro-recall interval is a 1,000-resample percentile bootstrap.
    """
    texts, labels = list(texts), list(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise ValueError("nothing to evaluate: no texts")
    unknown = sorted({label for label in labels if label not in LABELS})
    if unknown:
        raise ValueError(f"labels not in {LABELS}: {unknown}")
    given = probabilities
    predicted: list[str] = []
    scores: list[float] = []
    probabilities = []
    latencies = []
    for start in range(0, len(texts), batch_size):
        began = time.perf_counter()
        batch = model.predict(texts[start:start + batch_size])
        latencies.append(time.perf_counter() - began)
        predicted.extend(batch.labels)
        scores.extend(batch.scores)
        probabilities.append(np.asarray(batch.probabilities, dtype=np.float64).reshape(-1, len(LABELS)))
    probs = np.vstack(probabilities)
    if given is not None:
        probs = np.asarray(given, dtype=np.float64).reshape(len(texts), len(LABELS))
        best = probs.argmax(axis=1)
        predicted, scores = [LABELS[i] for i in best], probs[np.arange(len(best)), best].tolist()
    frame = pd.DataFrame({"text": texts, "label": labels, "predicted": predicted, "score": scores})
    for i, label in enumerate(LABELS):
        frame[f"p_{label}"] = probs[:, i]
    frame["correct"] = frame["label"] == frame["predicted"]
    per_class = dict(labels=list(LABELS), average=None, zero_division=0)
    precision = precision_score(labels, predicted, **per_class)
    recall = recall_score(labels, predicted, **per_class)
    total_s = sum(latencies)
    return EvaluationResult(
        accuracy=float(accuracy_score(labels, predicted)),
        macro_f1=float(f1_score(labels, predicted, labels=list(LABELS), average="macro", zero_division=0)),
        macro_recall=float(recall_score(labels, predicted, labels=list(LABELS), average="macro", zero_division=0)),
        precision={label: float(p) for label, p in zip(LABELS, precision)},
        recall={label: float(r) for label, r in zip(LABELS, recall)},
        confusion=confusion_matrix(labels, predicted, labels=list(LABELS)).tolist(),
        n=len(texts),
        tweets_per_s=len(texts) / total_s if total_s > 0 else float("inf"),
        p95_batch_latency_s=float(np.percentile(latencies, 95)),
        predictions=frame[list(PREDICTION_COLUMNS)],
        macro_recall_ci=bootstrap_interval(labels, predicted, "macro_recall"),
    )


def confusion_matrix_png(result: EvaluationResult, path: str | Path, title: str) -> Path:
    """Write the annotated confusion matrix (rows true, columns predicted) as a PNG; returns its path.

    Draws on an Agg canvas directly, so pyplot's global backend and figure registry are left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(result.confusion)
    figure = Figure(figsize=(4.8, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    threshold = counts.max() / 2 if counts.size and counts.max() else 0
    for (row, col), count in np.ndenumerate(counts):
        axes.text(col, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    axes.set_xticks(range(len(LABELS)), LABELS)
    axes.set_yticks(range(len(LABELS)), LABELS)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
