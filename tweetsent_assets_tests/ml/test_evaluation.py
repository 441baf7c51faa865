"""evaluate(): metrics equal scikit-learn's on a fake model, confusion counts, the PNG, VADER sanity."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from tweetsent_assets.lib.ml.evaluation import PREDICTION_COLUMNS, EvaluationResult, confusion_matrix_png, evaluate
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec, Predictions

LABEL_OF = {"n": "negative", "u": "neutral", "p": "positive"}
TRUTH = "nnnnnuuuupppppp"
GUESS = "nnnupuunnppppnu"


class FakeModel:
    """Predicts the label encoded in each text ('<i>:<guess>'), with a confident one-hot-ish row."""

    name = "fake"
    version = "1"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, texts: list[str]) -> Predictions:
        self.batches.append(len(texts))
        probabilities = np.full((len(texts), 3), 0.1)
        for row, text in enumerate(texts):
            probabilities[row, LABELS.index(LABEL_OF[text.split(":")[1]])] = 0.8
        return Predictions.from_probabilities(probabilities)


@pytest.fixture(scope="module")
def fake_result() -> tuple[EvaluationResult, FakeModel, list[str], list[str]]:
    texts = [f"{i}:{g}" for i, g in enumerate(GUESS)]
    labels = [LABEL_OF[t] for t in TRUTH]
    model = FakeModel()
    return evaluate(model, texts, labels, batch_size=4), model, labels, [LABEL_OF[g] for g in GUESS]


def test_metrics_equal_sklearn(fake_result):
    result, model, labels, predicted = fake_result
    assert model.batches == [4, 4, 4, 3]
    assert result.n == 15
    assert result.accuracy == accuracy_score(labels, predicted) == 9 / 15
    assert result.macro_f1 == f1_score(labels, predicted, average="macro", labels=list(LABELS), zero_division=0)
    assert result.macro_recall == recall_score(labels, predicted, average="macro", labels=list(LABELS), zero_division=0)
    precision = precision_score(labels, predicted, average=None, labels=list(LABELS), zero_division=0)
    recall = recall_score(labels, predicted, average=None, labels=list(LABELS), zero_division=0)
    assert result.precision == dict(zip(LABELS, precision.tolist()))
    assert result.recall == dict(zip(LABELS, recall.tolist()))
    assert result.recall == {"negative": 3 / 5, "neutral": 2 / 4, "positive": 4 / 6}


def test_confusion_counts_and_predictions_frame(fake_result):
    result, _, labels, predicted = fake_result
    assert result.confusion == [[3, 1, 1], [2, 2, 0], [1, 1, 4]]
    frame = result.predictions
    assert tuple(frame.columns) == PREDICTION_COLUMNS
    assert frame["label"].tolist() == labels
    assert frame["predicted"].tolist() == predicted
    assert int(frame["correct"].sum()) == 9
    assert np.allclose(frame[["p_negative", "p_neutral", "p_positive"]].sum(axis=1), 1.0)
    assert np.allclose(frame["score"], 0.8)


def test_flat_metrics_and_timing(fake_result):
    result, *_ = fake_result
    metrics = result.metrics()
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["precision_negative"] == result.precision["negative"]
    assert metrics["recall_neutral"] == 0.5
    assert metrics["n"] == 15.0
    assert result.tweets_per_s > 0 and result.p95_batch_latency_s >= 0


def test_absent_class_counts_as_zero_recall():
    texts = ["0:n", "1:p", "2:p"]
    result = evaluate(FakeModel(), texts, ["negative", "positive", "negative"])
    assert result.recall == {"negative": 0.5, "neutral": 0.0, "positive": 1.0}
    assert result.macro_recall == pytest.approx(0.5)
    assert result.confusion == [[1, 0, 1], [0, 0, 0], [0, 0, 1]]


def test_confusion_png_written(fake_result, tmp_path):
    result, *_ = fake_result
    path = confusion_matrix_png(result, tmp_path / "plots" / "cm.png", "fake model")
    assert path == tmp_path / "plots" / "cm.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 2000


def test_unknown_label_is_named():
    with pytest.raises(ValueError, match="'mixed'"):
        evaluate(FakeModel(), ["0:n", "1:p"], ["negative", "mixed"])


def test_vader_on_obvious_sentences():
    vader = load_model(ModelSpec(kind="vader", model=None, name="vader"))
    texts = ["I love this, it is wonderful and great!", "This is terrible, I hate it.", "The gate is 10."]
    result = evaluate(vader, texts, ["positive", "negative", "neutral"], batch_size=2)
    assert result.accuracy == 1.0
    assert result.confusion == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
