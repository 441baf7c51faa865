"""Champion/challenger promotion on a real MLflow registry (sqlite, local artifacts) and the bootstrap."""
from __future__ import annotations

import time

import numpy as np
import pytest
from mlflow import MlflowClient

from tweetsent_assets.lib.ml.evaluation import evaluate
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.types import Predictions
from tweetsent_assets.lib.ml.promotion import Candidate, decide
from tweetsent_assets.lib.ml.registry import CHAMPION, PREVIOUS_CHAMPION, apply_decision, get_alias_version, promote
from tweetsent_assets.lib.ml.stats import metric_value, paired_bootstrap

LABELS_600 = [LABELS[i % 3] for i in range(600)]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("promotion", artifact_location=str(root / "artifacts"))
    return client


@pytest.fixture
def registered(client, request, tmp_path) -> str:
    """A fresh registered model with versions 1..4 (empty sources: only aliases matter here)."""
    name = "sentiment-" + request.node.name.replace("_", "-")
    client.create_registered_model(name)
    for _ in range(4):
        client.create_model_version(name, source=str(tmp_path))
    return name


def predictions(labels: list[str], correct: int, seed: int = 0) -> np.ndarray:
    """Predictions with exactly `correct` right answers; the wrong ones get the next label."""
    rng = np.random.default_rng(seed)
    right = np.zeros(len(labels), dtype=bool)
    right[rng.choice(len(labels), size=correct, replace=False)] = True
    truth = np.asarray(labels, dtype=object)
    shifted = np.array([LABELS[(LABELS.index(t) + 1) % 3] for t in labels], dtype=object)
    return np.where(right, truth, shifted)


def candidate(name: str, version: str | None, preds: np.ndarray, tweets_per_s: float = 1000.0) -> Candidate:
    return Candidate(
        name=name, version=version, available=True, predictions=preds, tweets_per_s=tweets_per_s,
        metrics={"macro_recall": metric_value(LABELS_600, preds)},
    )


def test_clearly_better_challenger_is_promoted(client, registered):
    promote(client, "1", registered)
    champion = candidate("vader", "1", predictions(LABELS_600, 360))
    challenger = candidate("roberta", "2", predictions(LABELS_600, 540, seed=1))
    decision = decide([champion, challenger], "1", LABELS_600)
    assert decision.promote and decision.winner is challenger and decision.previous is champion
    assert "Promoted roberta (v2)" in decision.reason and "exceeds the margin 0.0100" in decision.reason
    assert apply_decision(client, decision, registered) == "2"
    assert get_alias_version(client, CHAMPION, registered) == "2"
    assert get_alias_version(client, PREVIOUS_CHAMPION, registered) == "1"


def test_improvement_within_noise_is_not_promoted(client, registered):
    promote(client, "1", registered)
    base = predictions(LABELS_600, 420)
    better = base.copy()
    wrong = np.flatnonzero(better != np.asarray(LABELS_600, dtype=object))[:2]
    better[wrong] = np.asarray(LABELS_600, dtype=object)[wrong]
    champion, challenger = candidate("vader", "1", base), candidate("roberta", "2", better)
    gain = metric_value(LABELS_600, better, "accuracy") - metric_value(LABELS_600, base, "accuracy")
    assert gain == pytest.approx(2 / 600)
    decision = decide([champion, challenger], "1", LABELS_600, margin=0.01)
    assert not decision.promote and decision.winner is champion
    assert "does not exceed the margin 0.0100" in decision.reason
    assert apply_decision(client, decision, registered) == "1"
    assert get_alias_version(client, PREVIOUS_CHAMPION, registered) is None


def test_worse_challenger_is_not_promoted(client, registered):
    promote(client, "1", registered)
    champion = candidate("vader", "1", predictions(LABELS_600, 360))
    worse = candidate("roberta", "2", predictions(LABELS_600, 300, seed=2))
    decision = decide([champion, worse], "1", LABELS_600, margin=-1.0)
    assert not decision.promote and decision.winner is champion
    assert decision.reason.startswith("Kept champion vader (v1)")
    assert apply_decision(client, decision, registered) == "1"


def test_challenger_that_fails_to_load_is_not_promoted(client, registered):
    promote(client, "1", registered)
    champion = candidate("vader", "1", predictions(LABELS_600, 360))
    broken = Candidate.unavailable("roberta", "2", "ModelUnavailableError: no such local folder")
    decision = decide([champion, broken], "1", LABELS_600)
    assert not decision.promote and decision.winner is champion
    row = next(r for r in decision.table if r["name"] == "roberta")
    assert row == {
        "name": "roberta", "version": "2", "available": False, "macro_recall": None, "tweets_per_s": 0.0,
        "eligible": False, "why_not": "unavailable (ModelUnavailableError: no such local folder)", "champion": False,
    }
    assert apply_decision(client, decision, registered) == "1"


def test_unavailable_champion_is_kept(client, registered):
    promote(client, "1", registered)
    gone = Candidate.unavailable("vader", "1", "artifacts missing")
    challenger = candidate("roberta", "2", predictions(LABELS_600, 540))
    decision = decide([gone, challenger], "1", LABELS_600)
    assert not decision.promote and decision.winner is gone
    assert "Kept champion 1" in decision.reason and "artifacts missing" in decision.reason
    assert "roberta (v2)" in decision.reason
    assert apply_decision(client, decision, registered) == "1"


def test_no_champion_promotes_best_eligible(client, registered):
    low = candidate("vader", "1", predictions(LABELS_600, 360))
    high = candidate("roberta", "2", predictions(LABELS_600, 400))
    broken = Candidate.unavailable("big", "3", "out of memory")
    decision = decide([low, high, broken], None, LABELS_600)
    assert decision.promote and decision.winner is high and decision.previous is None
    assert "no current champion" in decision.reason and "bootstrap skipped" in decision.reason
    assert apply_decision(client, decision, registered) == "2"
    assert get_alias_version(client, PREVIOUS_CHAMPION, registered) is None


def test_throughput_floor_excludes_slow_model(client, registered):
    promote(client, "1", registered)
    champion = candidate("vader", "1", predictions(LABELS_600, 300), tweets_per_s=5000)
    slow = candidate("large", "2", predictions(LABELS_600, 590), tweets_per_s=4)
    fast = candidate("small", "3", predictions(LABELS_600, 480), tweets_per_s=300)
    decision = decide([champion, slow, fast], "1", LABELS_600, min_tweets_per_s=50)
    assert decision.promote and decision.winner is fast
    assert {r["name"]: r["eligible"] for r in decision.table} == {"vader": True, "large": False, "small": True}
    assert next(r for r in decision.table if r["name"] == "large")["why_not"].startswith("too slow (4.0 tweets/s")
    assert apply_decision(client, decision, registered) == "3"
    assert get_alias_version(client, PREVIOUS_CHAMPION, registered) == "1"


def test_candidate_from_evaluation_feeds_decide():
    class Echo:
        name, version = "echo", "x"

        def predict(self, texts: list[str]) -> Predictions:
            return Predictions.from_probabilities(np.eye(3)[[LABELS.index(t) for t in texts]])

    truth = LABELS_600[:30]
    result = evaluate(Echo(), truth, truth)
    perfect = Candidate.from_evaluation("echo", "7", result)
    assert perfect.metrics["macro_recall"] == 1.0 and list(perfect.predictions) == truth
    decision = decide([perfect], None, truth)
    assert decision.promote and decision.winner is perfect


def test_bootstrap_is_deterministic_and_fast():
    labels = [LABELS[i % 3] for i in range(2000)]
    a, b = predictions(labels, 1200, seed=3), predictions(labels, 1400, seed=4)
    started = time.perf_counter()
    first = paired_bootstrap(labels, a, b, n_boot=1000, seed=7)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert paired_bootstrap(labels, a, b, n_boot=1000, seed=7) == first
    assert paired_bootstrap(labels, a, b, n_boot=1000, seed=8) != first
    mean, lower, upper = first
    assert lower < 0.1 < upper and mean == pytest.approx(0.1, abs=0.01)
    for metric in ("accuracy", "macro_f1"):
        m, lo, hi = paired_bootstrap(labels, a, b, metric=metric, n_boot=200)
        assert lo < metric_value(labels, b, metric) - metric_value(labels, a, metric) < hi
    assert paired_bootstrap(labels, a, a, n_boot=50) == (0.0, 0.0, 0.0)
