"""Label normalisation, the VADER baseline and Hugging Face loading/inference on tiny local models."""
from __future__ import annotations

import pickle
import time
import uuid

import numpy as np
import pytest

from tweetsent_assets.lib.ml.models.labels import LABELS, logit_order, normalize_label
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec, ModelUnavailableError, Predictions, SentimentModel
from tweetsent_assets.lib.ml.models.vader import compound_probabilities, label_for
from tweetsent_assets_tests.tiny_models import TEXTS, build_tiny_roberta


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny3"))


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return load_model(ModelSpec(kind="hf", model=str(tiny_path), name="tiny", batch_size=2))


@pytest.fixture(autouse=True, scope="module")
def _fresh_cache():
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.mark.parametrize("names", [
    ("LABEL_0", "LABEL_1", "LABEL_2"),
    ("NEG", "NEU", "POS"),
    ("neg", "neu", "pos"),
    ("negative", "neutral", "positive"),
    ("Negative", "NEUTRAL", " positive "),
    ("label_0", "Label_1", "LaBeL_2"),
])
def test_normalize_label_schemes(names):
    assert tuple(normalize_label(n) for n in names) == LABELS


def test_normalize_label_unknown_names_the_label():
    with pytest.raises(ValueError, match="mixed_feelings"):
        normalize_label("mixed_feelings")
    with pytest.raises(ValueError, match="LABEL_3"):
        normalize_label("LABEL_3")


def test_logit_order_standard_and_permuted():
    assert logit_order({0: "negative", 1: "neutral", 2: "positive"}) == (0, 1, 2)
    assert logit_order({0: "positive", 1: "negative", 2: "neutral"}) == (2, 0, 1)
    assert logit_order({"2": "POS", "0": "NEU", "1": "NEG"}) == (1, 0, 2)


def test_logit_order_two_class():
    assert logit_order({0: "NEGATIVE", 1: "POSITIVE"}) == (0, 2)
    assert logit_order({0: "positive", 1: "negative"}) == (2, 0)
    assert logit_order({0: "LABEL_0", 1: "LABEL_1"}) == (0, 2)


@pytest.mark.parametrize("id2label", [
    {0: "negative", 1: "negative", 2: "positive"},
    {0: "negative", 1: "neutral"},
    {0: "negative", 2: "positive"},
    {0: "negative"},
    {0: "negative", 1: "neutral", 2: "positive", 3: "mixed"},
])
def test_logit_order_rejects_bad_maps(id2label):
    with pytest.raises(ValueError):
        logit_order(id2label)


def test_model_spec_is_small_hashable_and_validated():
    spec = ModelSpec(kind="hf", model="/models/x", name="x", version="v1")
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert len(pickle.dumps(spec)) < 400
    assert hash(spec) == hash(ModelSpec(kind="hf", model="/models/x", name="x", version="v1"))
    with pytest.raises(ValueError, match="kind"):
        ModelSpec(kind="openai", model=None, name="x")
    with pytest.raises(ValueError):
        ModelSpec(kind="hf", model=None, name="x", batch_size=0)


def test_predictions_from_probabilities():
    p = Predictions.from_probabilities(np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]))
    assert p.labels == ["positive", "negative"]
    assert p.scores == pytest.approx([0.7, 0.5])
    assert len(p) == 2


def test_vader_labels_and_probabilities():
    model = load_model(ModelSpec(kind="vader", model=None, name="vader"))
    assert isinstance(model, SentimentModel)
    texts = ["I love this airline, great service and amazing crew!",
             "This is the worst flight ever, terrible and rude staff.",
             "The flight leaves at 10 from gate 4.",
             ""]
    preds = model.predict(texts)
    assert preds.labels == ["positive", "negative", "neutral", "neutral"]
    assert preds.probabilities.shape == (4, 3)
    np.testing.assert_allclose(preds.probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert [LABELS[i] for i in preds.probabilities.argmax(axis=1)] == preds.labels
    assert preds.scores == pytest.approx(preds.probabilities.max(axis=1).tolist())
    assert preds.scores[0] > 0.9 and preds.scores[1] > 0.9
    assert model.version.startswith("vaderSentiment-")


def test_vader_mapping_agrees_with_threshold_rule_at_the_edges():
    compound = np.round(np.linspace(-1, 1, 20001), 4)
    probabilities = compound_probabilities(compound)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    argmax = [LABELS[i] for i in probabilities.argmax(axis=1)]
    assert argmax == [label_for(c) for c in compound]
    assert [label_for(c) for c in (0.05, 0.0499, -0.0499, -0.05)] == ["positive", "neutral", "neutral", "negative"]


def test_load_model_caches_per_spec(tiny_path):
    spec = ModelSpec(kind="hf", model=str(tiny_path), name="tiny-cache")
    first = load_model(spec)
    assert load_model(ModelSpec(kind="hf", model=str(tiny_path), name="tiny-cache")) is first
    assert load_model(ModelSpec(kind="hf", model=str(tiny_path), name="tiny-cache", batch_size=7)) is not first


def test_hf_tiny_model_predicts_valid_distributions(tiny):
    preds = tiny.predict(TEXTS)
    assert len(preds) == len(TEXTS)
    assert set(preds.labels) <= set(LABELS)
    assert preds.probabilities.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(preds.probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert [LABELS[i] for i in preds.probabilities.argmax(axis=1)] == preds.labels
    assert preds.scores == pytest.approx(preds.probabilities.max(axis=1).tolist())
    assert np.ptp(preds.probabilities[:, 0]) > 1e-3, "random tiny model should separate texts"
    assert tiny.predict([]).probabilities.shape == (0, 3)


def test_hf_result_does_not_depend_on_batch_composition(tiny):
    together = tiny.predict(TEXTS)
    for i, text in enumerate(TEXTS):
        alone = tiny.predict([text])
        np.testing.assert_allclose(alone.probabilities[0], together.probabilities[i], atol=1e-5)
    reversed_ = tiny.predict(TEXTS[::-1])
    np.testing.assert_allclose(reversed_.probabilities[::-1], together.probabilities, atol=1e-5)


def test_hf_truncates_long_texts(tiny):
    preds = tiny.predict(["great flight " * 500])
    assert preds.labels[0] in LABELS


def test_hf_reorders_outputs_by_id2label(tmp_path, tiny_path, tiny):
    permuted = build_tiny_roberta(tmp_path / "permuted", labels=("positive", "negative", "neutral"))
    model = load_model(ModelSpec(kind="hf", model=str(permuted), name="permuted"))
    a = tiny.predict(TEXTS).probabilities
    b = model.predict(TEXTS).probabilities
    np.testing.assert_allclose(b[:, [2, 0, 1]], a, atol=1e-6)


def test_hf_two_label_model(tmp_path):
    path = build_tiny_roberta(tmp_path / "binary", labels=("NEGATIVE", "POSITIVE"))
    model = load_model(ModelSpec(kind="hf", model=str(path), name="binary"))
    preds = model.predict(TEXTS)
    assert set(preds.labels) <= {"negative", "positive"}
    assert np.all(preds.probabilities[:, 1] == 0.0)
    np.testing.assert_allclose(preds.probabilities.sum(axis=1), 1.0, atol=1e-9)


def test_hf_version_is_content_hash_unless_pinned(tiny_path, tiny, tmp_path):
    assert len(tiny.version) == 12 and int(tiny.version, 16) >= 0
    again = load_model(ModelSpec(kind="hf", model=str(tiny_path), name="tiny", batch_size=3))
    assert again.version == tiny.version
    other = build_tiny_roberta(tmp_path / "other", seed=1)
    assert load_model(ModelSpec(kind="hf", model=str(other), name="o")).version != tiny.version
    pinned = load_model(ModelSpec(kind="hf", model=str(tiny_path), name="tiny", version="v7"))
    assert (pinned.name, pinned.version) == ("tiny", "v7")


def test_unknown_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_id = f"tweetsent-tests/missing-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_model(ModelSpec(kind="hf", model=model_id, name="missing"))
    assert time.monotonic() - started < 10
    assert model_id in str(info.value) and "local" in str(info.value)


def test_unreachable_hub_fails_fast_without_retries(monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "ENDPOINT", "http://127.0.0.1:9")
    model_id = f"tweetsent-tests/missing-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_model(ModelSpec(kind="hf", model=model_id, name="missing"))
    assert time.monotonic() - started < 10
    assert model_id in str(info.value) and "unreachable" in str(info.value)


def test_missing_local_folder_raises(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelUnavailableError, match="no such local folder"):
        load_model(ModelSpec(kind="hf", model=str(missing), name="nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match="not a saved model"):
        load_model(ModelSpec(kind="hf", model=str(tmp_path / "empty"), name="empty"))
