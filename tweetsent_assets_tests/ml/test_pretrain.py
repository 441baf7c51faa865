"""Continued pretraining (masked-language modelling) on a tiny encoder: it learns, and saves a loadable encoder."""
from __future__ import annotations

import json

import pytest
import torch

from tweetsent_assets.lib.ml.normalise import text_hash
from tweetsent_assets.lib.ml.pretrain import RESULT_FILE, PretrainConfig, continue_pretraining

from ..tiny_models import build_tiny_roberta, tiny_corpus


def test_masked_language_modelling_learns_and_saves_the_adapted_encoder(tmp_path):
    from transformers import AutoModel, AutoModelForSequenceClassification

    base = build_tiny_roberta(tmp_path / "base")
    texts = tiny_corpus(200, seed=4)
    messages = []
    config = PretrainConfig(epochs=3, batch_size=16, learning_rate=5e-3, max_length=32, torch_threads=1,
                            progress_every_steps=13)
    result = continue_pretraining(texts, str(base), config, tmp_path / "adapted", progress=messages.append)
    assert result.steps == 39 and len(messages) == 3 and "step 39/39" in messages[-1]
    assert result.last_loss < result.first_loss - 0.5
    assert result.hashes == sorted({text_hash(t) for t in texts})
    before, after = (AutoModel.from_pretrained(str(path)) for path in (base, tmp_path / "adapted"))
    changed = [name for name, weight in after.state_dict().items()
               if name in before.state_dict() and not torch.equal(weight, before.state_dict()[name])]
    assert any("embeddings.word_embeddings" in name for name in changed) and any("layer.1" in name for name in changed)
    classifier = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "adapted"), num_labels=3)
    assert torch.equal(classifier.base_model.embeddings.word_embeddings.weight, after.embeddings.word_embeddings.weight)
    recorded = json.loads((tmp_path / "adapted" / RESULT_FILE).read_text())
    assert recorded["texts"] == 200 and recorded["steps"] == 39 and recorded["config"]["epochs"] == 3


def test_bad_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="at least one text"):
        continue_pretraining([], "unused", PretrainConfig(), tmp_path)
    with pytest.raises(ValueError, match="mlm_probability"):
        PretrainConfig(mlm_probability=1.5)
