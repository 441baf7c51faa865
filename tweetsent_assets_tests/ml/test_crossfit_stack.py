"""Cross-fitting on a tiny encoder, the stack folder, its model and pyfunc, and the honest-evaluation checks."""
from __future__ import annotations

import json
import random

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from tweetsent_assets.lib.ml.crossfit import CrossfitConfig, crossfit
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.pyfunc import save_pyfunc
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.normalise import normalise_tweet, text_hash
from tweetsent_assets.lib.ml.stack_folder import (
    TRAINING_HASHES_FILE,
    leaked_eval_rows,
    out_of_fold_metrics,
    out_of_fold_probabilities,
    read_recipe,
    write_stack_folder,
)
from tweetsent_assets.lib.ml.stacker import vader_scores

from ..tiny_models import build_tiny_roberta

_VOCAB = {
    "negative": "bad awful hate terrible worst rude horrible".split(),
    "neutral": "flight gate today tomorrow ticket airport seat".split(),
    "positive": "good great love amazing best nice excellent".split(),
}


def _examples(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    labels = [LABELS[i % 3] for i in range(n)]
    texts = [" ".join(rng.choice(_VOCAB[label]) for _ in range(rng.randint(3, 7))) + f" #Tag{i}"
             for i, label in enumerate(labels)]
    return texts, labels


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("xfit")
    base = build_tiny_roberta(root / "base")
    texts, labels = _examples(72, seed=3)
    texts.append(texts[0].upper())
    labels.append(labels[0])
    config = CrossfitConfig(folds=3, epochs=1, learning_rate=2e-3, batch_size=16, max_length=32, torch_threads=1,
                            progress_every_steps=2)
    messages = []
    result = crossfit(texts, labels, str(base), config, root / "work", progress=messages.append,
                      extra_texts=["love love great :) #NewLabel", texts[5]], extra_labels=["positive", "neutral"])
    vader = vader_scores([normalise_tweet(t) for t in texts])
    folder = write_stack_folder(result, config, ["transformer", "vader"], texts, vader, root / "stack",
                                base_training_hashes=[text_hash("some stage-1 tweet")])
    return {"texts": texts, "labels": labels, "result": result, "folder": folder, "messages": messages}


def test_folds_out_of_fold_and_what_each_model_saw(stack):
    result, texts = stack["result"], stack["texts"]
    assert result.oof.shape == (73, 3) and np.allclose(result.oof.sum(axis=1), 1)
    assert np.allclose(result.oof_int8.sum(axis=1), 1)
    assert sorted(set(result.folds)) == [0, 1, 2] and result.folds[-1] == result.folds[0]
    assert len(result.fold_seconds) == 3
    for fold in range(3):
        held = {h for h, f in zip(result.hashes, result.folds) if f == fold}
        seen = set(result.training_hashes[f"fold-{fold}"])
        assert held and seen and not held & seen
        assert held | seen == set(result.hashes) | {text_hash("love love great :) #NewLabel")}
    extra = text_hash("love love great :) #NewLabel")
    assert result.extra_rows == 1 and extra not in result.hashes
    assert set(result.training_hashes["final"]) == set(result.hashes) | {extra}
    assert all(extra in result.training_hashes[f"fold-{fold}"] for fold in range(3))
    assert any("fold 3/3" in m for m in stack["messages"]) and any("final" in m for m in stack["messages"])
    assert any("step 2" in m for m in stack["messages"])
    assert not (stack["folder"].parent / "work" / "fold-0").exists()


def test_no_eval_text_was_in_the_training_data_of_the_model_that_scored_it(stack):
    folder, texts = stack["folder"], stack["texts"]
    hashes = [text_hash(t) for t in texts]
    assert leaked_eval_rows(folder, hashes) == 0
    probs = out_of_fold_probabilities(folder, hashes, quantize=False)
    oof = pd.read_csv(folder / "oof.csv")
    assert probs.shape == (73, 3) and np.allclose(probs[:5], oof[["p_negative", "p_neutral", "p_positive"]][:5])
    assert not np.allclose(probs, out_of_fold_probabilities(folder, hashes, quantize=True))
    metrics = out_of_fold_metrics(folder)
    assert metrics["oof_macro_recall_ci_low"] <= metrics["oof_macro_recall"] <= metrics["oof_macro_recall_ci_high"]
    assert set(metrics) == {f"{p}_macro_recall{s}" for p in ("oof", "oof_int8") for s in ("", "_ci_low", "_ci_high")}
    with pytest.raises(ValueError, match="1 eval texts have no out-of-fold prediction"):
        out_of_fold_probabilities(folder, hashes + [text_hash("never trained on")], quantize=False)


def test_a_leak_is_detected(stack, tmp_path):
    import shutil

    folder = tmp_path / "leaky"
    shutil.copytree(stack["folder"], folder)
    hashes = [text_hash(t) for t in stack["texts"]]
    seen = json.loads((folder / TRAINING_HASHES_FILE).read_text())
    fold0 = [h for h, f in zip(stack["result"].hashes, stack["result"].folds) if f == 0]
    seen["fold-0"].append(fold0[0])
    seen["base"].append(hashes[1])
    (folder / TRAINING_HASHES_FILE).write_text(json.dumps(seen))
    expected = 1 + (fold0[0] != hashes[1]) + (stack["result"].hashes.count(fold0[0]) - 1)
    assert leaked_eval_rows(folder, hashes) == expected
    with pytest.raises(ValueError, match="in the training data of the model that scored them"):
        out_of_fold_probabilities(folder, hashes, quantize=False)


def test_stack_model_recipe_and_pyfunc(stack, tmp_path):
    folder = stack["folder"]
    recipe = read_recipe(folder)
    assert recipe["folds"] == 3 and recipe["stacker_inputs"] == ["transformer", "vader"]
    assert recipe["in_domain_rows"] == 73 and recipe["always_train_rows"] == 1
    assert recipe["normalisation"].startswith("tweet-norm-v1") and len(recipe["stacker_features"]) == 7
    clear_model_cache()
    model = load_model(ModelSpec(kind="stack", model=str(folder), name="stack"))
    int8 = load_model(ModelSpec(kind="stack", model=str(folder), name="stack", quantize=True))
    texts = ["good great love", "bad awful hate", "flight gate today", "", "😂 #GreatDay"]
    predictions = model.predict(texts)
    assert len(predictions) == 5 and set(predictions.labels) <= set(LABELS)
    assert np.allclose(predictions.probabilities.sum(axis=1), 1)
    assert int8.version == model.version + "-int8" and len(int8.predict(texts)) == 5
    saved = save_pyfunc(tmp_path / "pyfunc", ModelSpec(kind="stack", model=str(folder), name="stack"))
    frame = mlflow.pyfunc.load_model(str(saved)).predict(pd.DataFrame({"text": texts}))
    assert list(frame.label) == predictions.labels
    assert np.allclose(frame[["p_negative", "p_neutral", "p_positive"]].to_numpy(), predictions.probabilities)
    clear_model_cache()


def test_other_sources_rows_join_every_fold_with_their_flags_and_weights(tmp_path, monkeypatch):
    import tweetsent_assets.lib.ml.crossfit as crossfit_module

    calls = []

    def record(texts, labels, _val_texts, _val_labels, config, folder, on_eval=None, train_polar_only=None,
               train_weights=None):
        calls.append({"rows": dict(zip(texts, zip(labels, train_polar_only, train_weights))), "folder": folder})

    monkeypatch.setattr(crossfit_module, "finetune", record)
    monkeypatch.setattr(crossfit_module, "predict_probabilities", lambda folder, texts, max_length, quantize:
                        np.full((len(texts), 3), 1 / 3))
    texts, labels = _examples(12, seed=1)
    config = CrossfitConfig(folds=3, epochs=1, torch_threads=1)
    result = crossfit(texts, labels, None, config, tmp_path, progress=lambda _m: None,
                      extra_texts=["so happy today", "worst airline", texts[0]],
                      extra_labels=["positive", "negative", labels[0]],
                      extra_polar=[True, False, True], extra_weights=[0.5, 0.25, 0.5])

    assert len(calls) == 4 and result.extra_rows == 2
    for call in calls:
        rows = call["rows"]
        assert rows["so happy today"] == ("positive", True, 0.5)
        assert rows["worst airline"] == ("negative", False, 0.25)
        in_domain = [value for text, value in rows.items() if text not in ("so happy today", "worst airline")]
        assert in_domain and all(polar is False and weight == 1.0 for _, polar, weight in in_domain)
    assert len(calls[-1]["rows"]) == 14
    with pytest.raises(ValueError, match="3 extra texts need as many labels, polar flags and weights"):
        crossfit(texts, labels, None, config, tmp_path, extra_texts=["a", "b", "c"], extra_labels=["positive"] * 3,
                 extra_polar=[True], extra_weights=[1.0] * 3)


def test_self_training_adds_confident_unlabeled_texts_and_keeps_fold_models(tmp_path):
    base = build_tiny_roberta(tmp_path / "base")
    texts, labels = _examples(48, seed=5)
    pool = [f"great love best {i}" for i in range(6)] + [texts[0], "awful hate rude", "awful hate rude"]
    config = CrossfitConfig(folds=2, epochs=1, learning_rate=2e-3, batch_size=16, max_length=32, torch_threads=1,
                            pseudo_threshold=0.0, pseudo_weight=0.5)
    messages = []
    result = crossfit(texts, labels, str(base), config, tmp_path / "work", progress=messages.append,
                      unlabeled_texts=pool, keep_fold_models=True)
    unlabeled = {text_hash(t) for t in pool} - {text_hash(texts[0])}
    assert result.pseudo_rows == {"fold-0": 7, "fold-1": 7, "final": 7}
    assert unlabeled <= set(result.training_hashes["fold-0"]) and unlabeled <= set(result.training_hashes["final"])
    assert sum("self-training with 7 of 7 unlabeled tweets" in m for m in messages) == 3
    assert (tmp_path / "work" / "fold-0" / "config.json").is_file() and (tmp_path / "work" / "fold-1").is_dir()
    strict = crossfit(texts, labels, str(base), CrossfitConfig(**{**config.__dict__, "pseudo_threshold": 1.01}),
                      tmp_path / "strict", unlabeled_texts=pool, train_final=False, progress=messages.append)
    assert strict.pseudo_rows == {"fold-0": 0, "fold-1": 0} and not (tmp_path / "strict" / "fold-0").exists()
    assert set(strict.training_hashes["fold-0"]).isdisjoint(unlabeled)
