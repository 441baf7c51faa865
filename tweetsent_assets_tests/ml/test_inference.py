"""The mapInPandas scorer: schema, dedupe within batches, empty batches and null texts, without Spark."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tweetsent_assets.lib.ml.inference as inference
from tweetsent_assets.lib.ml.inference import SCORE_COLUMNS, SCORE_SCHEMA, make_row_filler, make_scorer
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import clear_model_cache
from tweetsent_assets.lib.ml.models.types import ModelSpec, Predictions
from tweetsent_assets_tests.tiny_models import build_tiny_roberta

POSITIVE = "I love this airline, great service and amazing crew!"
NEGATIVE = "This is the worst flight ever, terrible and rude staff."
NEUTRAL = "The flight leaves at 10 from gate 4."


def _frames() -> list[pd.DataFrame]:
    first = pd.DataFrame({
        "id": ["a1", "a2", "a3", "a4", "a5"],
        "cleaned_text": [POSITIVE, NEGATIVE, POSITIVE, NEUTRAL, POSITIVE],
        "user": ["u"] * 5,
    })
    empty = pd.DataFrame({"id": pd.Series(dtype=object), "cleaned_text": pd.Series(dtype=object)})
    second = pd.DataFrame({"id": ["b1", "b2", "b3"], "cleaned_text": [NEGATIVE, NEGATIVE, NEUTRAL]})
    return [first, empty, second]


class _SpyModel:
    """Records what it was asked to score; probabilities favour negative for texts containing 'worst'."""

    name = "spy"
    version = "s1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: list[str]) -> Predictions:
        self.calls.append(list(texts))
        probs = np.array([[0.8, 0.1, 0.1] if "worst" in t else [0.1, 0.2, 0.7] for t in texts]).reshape(-1, 3)
        return Predictions.from_probabilities(probs)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_model_cache()
    yield
    clear_model_cache()


def test_schema_lists_the_score_columns():
    names = [part.strip().split()[0] for part in SCORE_SCHEMA.split(",")]
    assert tuple(names) == SCORE_COLUMNS


def test_vader_scorer_over_batches_with_duplicates_and_empty_frame():
    spec = ModelSpec(kind="vader", model=None, name="vader-baseline", version="3.3.2")
    outputs = list(make_scorer(spec)(iter(_frames())))
    assert [len(o) for o in outputs] == [5, 0, 3]
    for out in outputs:
        assert tuple(out.columns) == SCORE_COLUMNS
    assert outputs[1]["score"].dtype == np.float64 and outputs[1]["p_neutral"].dtype == np.float64
    first, _, second = outputs
    assert first["id"].tolist() == ["a1", "a2", "a3", "a4", "a5"]
    assert second["id"].tolist() == ["b1", "b2", "b3"]
    assert first["label"].tolist() == ["positive", "negative", "positive", "neutral", "positive"]
    assert second["label"].tolist() == ["negative", "negative", "neutral"]
    combined = pd.concat([first, second])
    assert set(combined["label"]) <= set(LABELS)
    assert set(combined["model_name"]) == {"vader-baseline"} and set(combined["model_version"]) == {"3.3.2"}
    probs = combined[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(combined["score"], probs.max(axis=1))
    dup = first.set_index("id").loc[["a1", "a3", "a5"], ["label", "score", "p_negative", "p_neutral", "p_positive"]]
    assert (dup.nunique() == 1).all()


def test_duplicates_are_scored_once_per_batch_and_fanned_out(monkeypatch):
    spy = _SpyModel()
    monkeypatch.setattr(inference, "load_model", lambda spec: spy)
    spec = ModelSpec(kind="vader", model=None, name="ignored")
    first, _, second = list(make_scorer(spec)(iter(_frames())))
    assert spy.calls == [[POSITIVE, NEGATIVE, NEUTRAL], [NEGATIVE, NEUTRAL]]
    assert first["label"].tolist() == ["positive", "negative", "positive", "positive", "positive"]
    assert first["score"].tolist() == pytest.approx([0.7, 0.8, 0.7, 0.7, 0.7])
    assert second["p_negative"].tolist() == pytest.approx([0.8, 0.8, 0.1])
    assert set(first["model_name"]) == {"spy"} and set(first["model_version"]) == {"s1"}


def test_model_not_loaded_for_empty_partitions(monkeypatch):
    loads: list[ModelSpec] = []
    monkeypatch.setattr(inference, "load_model", lambda spec: loads.append(spec) or _SpyModel())
    spec = ModelSpec(kind="vader", model=None, name="v")
    outputs = list(make_scorer(spec)(iter([_frames()[1], _frames()[1]])))
    assert loads == [] and [len(o) for o in outputs] == [0, 0]
    assert list(make_scorer(spec)(iter([]))) == []


def test_null_texts_and_custom_columns(monkeypatch):
    spy = _SpyModel()
    monkeypatch.setattr(inference, "load_model", lambda spec: spy)
    frame = pd.DataFrame({"tweet_id": [1, 2, 3], "text": ["worst", None, "fine"]})
    (out,) = make_scorer(ModelSpec(kind="vader", model=None, name="v"), text_column="text", id_column="tweet_id")(
        iter([frame]))
    assert out["id"].tolist() == ["1", "2", "3"]
    assert out["label"].tolist() == ["negative", None, "positive"]
    assert np.isnan(out.loc[1, "score"]) and np.isnan(out.loc[1, "p_positive"])
    assert spy.calls == [["worst", "fine"]]


def test_row_filler_scores_only_unpredicted_rows_and_keeps_the_rest(monkeypatch):
    spy = _SpyModel()
    loads: list[ModelSpec] = []
    monkeypatch.setattr(inference, "load_model", lambda spec: loads.append(spec) or spy)
    predicted = {"label": "neutral", "score": 0.5, "p_negative": 0.2, "p_neutral": 0.5, "p_positive": 0.3,
                 "model_name": "spy", "model_version": "s1"}
    frame = pd.DataFrame({
        "id": ["r1", "r2", "r3", "r4"],
        "norm_text": ["worst day", "cached text", "worst day", "nice"],
        **{column: [None, value, None, None] for column, value in predicted.items()},
    })
    all_cached = frame.loc[[1]].reset_index(drop=True)
    first, second = make_row_filler(ModelSpec(kind="vader", model=None, name="v"))(iter([all_cached, frame]))

    assert len(loads) == 1 and spy.calls == [["worst day", "nice"]]
    assert "norm_text" not in first.columns and "norm_text" not in second.columns
    assert first.iloc[0].to_dict() == {"id": "r2", **predicted}
    assert second["label"].tolist() == ["negative", "neutral", "negative", "positive"]
    assert second["score"].tolist() == pytest.approx([0.8, 0.5, 0.8, 0.7])
    assert second["p_positive"].tolist() == pytest.approx([0.1, 0.3, 0.1, 0.7])
    assert second["model_version"].tolist() == ["s1"] * 4


def test_hf_scorer_with_tiny_model(tmp_path, monkeypatch):
    import torch

    path = build_tiny_roberta(tmp_path / "tiny")
    spec = ModelSpec(kind="hf", model=str(path), name="tiny-roberta", batch_size=2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(inference, "_threads_set", False)
    before = torch.get_num_threads()
    try:
        first, empty, second = list(make_scorer(spec)(iter(_frames())))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert [len(first), len(empty), len(second)] == [5, 0, 3]
    assert set(first["label"]) | set(second["label"]) <= set(LABELS)
    assert set(first["model_name"]) == {"tiny-roberta"} and len(first["model_version"].iloc[0]) == 12
    columns = ["p_negative", "p_neutral", "p_positive"]
    probs = first.set_index("id")[columns]
    np.testing.assert_array_equal(probs.loc["a1"].to_numpy(), probs.loc["a3"].to_numpy())
    np.testing.assert_allclose(
        probs.loc["a2"].to_numpy(float), second.set_index("id")[columns].loc["b1"].to_numpy(float), atol=1e-5)


def test_module_imports_neither_pyspark_nor_torch():
    root = Path(__file__).resolve().parents[2]
    code = ("import sys, tweetsent_assets.lib.ml.inference; "
            "assert 'pyspark' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)[:5]")
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env, timeout=60)


def test_hf_batched_sorted_padded_scores_equal_one_by_one(tmp_path):
    from tweetsent_assets.lib.ml.models.loader import load_model

    path = build_tiny_roberta(tmp_path / "tiny")
    texts = [NEUTRAL, POSITIVE + " " + NEGATIVE, "ok", NEGATIVE, "", POSITIVE]
    model = load_model(ModelSpec(kind="hf", model=str(path), name="tiny", batch_size=4, max_length=12))
    together = model.predict(texts).probabilities
    alone = np.vstack([model.predict([t]).probabilities for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert len(model.predict([])) == 0


def test_int8_variant_is_a_distinct_version_with_quantized_linears(tmp_path):
    import torch

    from tweetsent_assets.lib.ml.models.loader import load_model

    path = build_tiny_roberta(tmp_path / "tiny")
    fp32 = load_model(ModelSpec(kind="hf", model=str(path), name="tiny"))
    int8 = load_model(ModelSpec(kind="hf", model=str(path), name="tiny", quantize=True))
    assert int8.version == fp32.version + "-int8"
    assert not any(type(m) is torch.nn.Linear for m in int8.model.modules())
    assert any(type(m) is torch.nn.Linear for m in fp32.model.modules())
    texts = [POSITIVE, NEGATIVE, NEUTRAL]
    q, f = int8.predict(texts).probabilities, fp32.predict(texts).probabilities
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-9)
    assert q.shape == f.shape and not np.allclose(q, f, atol=1e-7)
    pinned = ModelSpec(kind="hf", model=str(path), name="tiny", version="7", quantize=True)
    assert load_model(pinned).version == "7"


def test_scorer_sets_the_requested_torch_threads(tmp_path, monkeypatch):
    import torch

    path = build_tiny_roberta(tmp_path / "tiny")
    monkeypatch.setattr(inference, "_threads_set", False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    try:
        list(make_scorer(ModelSpec(kind="hf", model=str(path), name="t"), threads=2)(iter(_frames()[:1])))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_relative_model_folder_is_made_absolute_before_the_workers(tmp_path, monkeypatch):
    (tmp_path / "models" / "mini").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    relative = ModelSpec(kind="hf", model="models/mini", name="mini", version="1")
    resolved = inference.with_absolute_folder(relative)
    assert resolved.model == str(tmp_path / "models" / "mini")
    assert (resolved.kind, resolved.name, resolved.version) == ("hf", "mini", "1")
    hub = ModelSpec(kind="hf", model="cardiffnlp/twitter-roberta-base-sentiment-latest", name="hub")
    assert inference.with_absolute_folder(hub) is hub
    absolute = ModelSpec(kind="hf", model=str(tmp_path / "models" / "mini"), name="mini")
    assert inference.with_absolute_folder(absolute) is absolute

    loads: list[ModelSpec] = []
    monkeypatch.setattr(inference, "load_model", lambda spec: loads.append(spec) or _SpyModel())
    monkeypatch.setattr(inference, "configure_torch_threads", lambda threads=None: 1)
    scorer = make_scorer(relative)
    monkeypatch.chdir(tmp_path / "models")
    list(scorer(iter(_frames()[:1])))
    assert [spec.model for spec in loads] == [str(tmp_path / "models" / "mini")]

