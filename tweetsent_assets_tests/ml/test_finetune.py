"""Fine-tuning loop on a tiny random RoBERTa: curve, stopping reasons, saved folder, label checks."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tweetsent_assets.lib.ml.finetune import (
    RESULT_FILE,
    FinetuneConfig,
    default_base_model,
    finetune,
    label_ids,
    macro_recall,
)
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec

from ..tiny_models import build_tiny_roberta

_VOCAB = {
    "negative": "bad awful hate terrible worst rude horrible :( #fail".split(),
    "neutral": "flight gate today tomorrow ticket airport seat monday".split(),
    "positive": "good great love amazing best nice excellent :) #win".split(),
}


def _examples(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Short texts whose words give away their label, so a tiny model can learn them in a few steps."""
    rng = random.Random(seed)
    labels = [LABELS[i % 3] for i in range(n)]
    texts = [" ".join(rng.choice(_VOCAB[label]) for _ in range(rng.randint(3, 8))) for label in labels]
    return texts, labels


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> str:
    return str(build_tiny_roberta(tmp_path_factory.mktemp("tiny-base")))


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[str], list[str], list[str]]:
    return (*_examples(240, seed=1), *_examples(60, seed=2))


def _config(base: str, **overrides) -> FinetuneConfig:
    settings = dict(base_model=base, max_length=32, batch_size=16, learning_rate=2e-3, max_epochs=3,
                    patience=None, torch_threads=1, warmup_ratio=0.0)
    return FinetuneConfig(**{**settings, **overrides})


def test_epoch_budget_curve_and_saved_model_loads(tiny_base, data, tmp_path):
    calls = []
    out = tmp_path / "ft"
    result = finetune(*data, _config(tiny_base), out, on_eval=lambda *args: calls.append(args))
    assert result.stopped_reason == "epochs"
    assert [point["step"] for point in result.curve] == [15, 30, 45]
    assert [c[0] for c in calls] == [15, 30, 45] and calls[-1][1] == pytest.approx(3.0)
    assert result.curve[-1]["train_loss"] < result.curve[0]["train_loss"]
    assert result.best_val_macro_recall == max(p["macro_recall"] for p in result.curve)
    assert result.best_step in (15, 30, 45) and result.output_dir == out
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert json.loads((out / RESULT_FILE).read_text())["best_step"] == result.best_step
    clear_model_cache()
    model = load_model(ModelSpec(kind="hf", model=str(out), name="ft"))
    predictions = model.predict(["good great love", "bad awful hate", "flight gate today"])
    assert set(predictions.labels) <= set(LABELS) and len(predictions) == 3
    clear_model_cache()


def test_eval_every_steps_adds_a_final_point(tiny_base, data, tmp_path):
    result = finetune(*data, _config(tiny_base, eval_every_steps=10), tmp_path / "ft")
    assert [point["step"] for point in result.curve] == [10, 20, 30, 40, 45]
    assert result.stopped_reason == "epochs"


def test_tiny_time_budget_stops_after_one_step(tiny_base, data, tmp_path):
    polar = [label != "neutral" for label in data[1]]
    result = finetune(*data, _config(tiny_base, time_budget_s=0.0), tmp_path / "ft", train_polar_only=polar)
    assert result.stopped_reason == "time_budget"
    assert [point["step"] for point in result.curve] == [1]
    assert (tmp_path / "ft" / "config.json").is_file()


def test_early_stopping_on_a_constant_metric(tiny_base, data, tmp_path):
    config = _config(tiny_base, learning_rate=0.0, eval_every_steps=2, patience=1)
    result = finetune(*data, config, tmp_path / "ft")
    assert result.stopped_reason == "early_stopping"
    assert [point["step"] for point in result.curve] == [2, 4]
    assert result.curve[0]["macro_recall"] == result.curve[1]["macro_recall"]
    assert result.best_step == 2


def test_unknown_label_is_named(tiny_base, data, tmp_path):
    texts, labels, val_texts, val_labels = data
    with pytest.raises(ValueError, match="meh"):
        finetune(texts, labels[:-1] + ["meh"], val_texts, val_labels, _config(tiny_base), tmp_path / "ft")
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        finetune(["a", "b"], ["positive"], val_texts, val_labels, _config(tiny_base), tmp_path / "ft")
    with pytest.raises(ValueError, match="cannot be labeled neutral"):
        finetune(texts, labels, val_texts, val_labels, _config(tiny_base), tmp_path / "ft",
                 train_polar_only=[True] * len(texts))


def test_helpers():
    assert label_ids(["positive", "negative", "neutral"]) == [2, 0, 1]
    assert macro_recall([0, 0, 1, 2], [0, 1, 1, 1]) == pytest.approx((0.5 + 1 + 0) / 3)
    assert (Path(default_base_model()) / "config.json").is_file()
    with pytest.raises(ValueError):
        FinetuneConfig(patience=0)


def test_without_val_trains_fixed_epochs_and_keeps_the_last_weights(tiny_base, data, tmp_path):
    texts, labels, _, _ = data
    calls = []
    result = finetune(texts, labels, [], [], _config(tiny_base, max_epochs=2, eval_every_steps=10), tmp_path / "ft",
                      on_eval=lambda *args: calls.append(args), train_weights=[0.5 if i % 2 else 1.0
                                                                               for i in range(len(texts))])
    assert result.stopped_reason == "epochs" and result.best_step == 30
    assert [point["step"] for point in result.curve] == [10, 20, 30]
    assert all(set(c[3]) == set() for c in calls) and result.best_val_macro_recall != result.best_val_macro_recall
    assert "macro_recall" not in result.curve[-1] and result.curve[-1]["train_loss"] > 0


def test_row_weights_are_checked(tiny_base, data, tmp_path):
    texts, labels, val_texts, val_labels = data
    with pytest.raises(ValueError, match="positive weights"):
        finetune(texts, labels, val_texts, val_labels, _config(tiny_base), tmp_path / "ft", train_weights=[1.0])
    with pytest.raises(ValueError, match="positive weights"):
        finetune(texts, labels, val_texts, val_labels, _config(tiny_base), tmp_path / "ft",
                 train_weights=[0.0] * len(texts))


def test_logit_adjusted_loss_lifts_the_rare_class(tiny_base, data, tmp_path):
    texts, labels, val_texts, val_labels = data
    skewed = [i for i, label in enumerate(labels) if label != "negative" or i % 6 == 0]
    recalls = {}
    for name, overrides in (("plain", {"class_weighting": False}), ("adjusted", {"loss_tau": 1.0})):
        result = finetune([texts[i] for i in skewed], [labels[i] for i in skewed], val_texts, val_labels,
                          _config(tiny_base, max_epochs=6, **overrides), tmp_path / name)
        recalls[name] = result.best_val_metrics["recall_negative"]
    assert recalls["adjusted"] > recalls["plain"] + 0.3
    assert json.loads((tmp_path / "adjusted" / RESULT_FILE).read_text())["config"]["loss_tau"] == 1.0
    with pytest.raises(ValueError, match="loss_tau"):
        FinetuneConfig(loss_tau=-1.0)
