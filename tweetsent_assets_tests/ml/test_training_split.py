"""The standard protocol's parts: labeled sources with TweetEval's training split, stage 1's rows, the held-out
stack on a tiny encoder, the leak check and the model card."""
from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from tweetsent_assets.defs.models.training import FinetuneAssetConfig, stage1_rows
from tweetsent_assets.lib.ml.finetune import FinetuneConfig, finetune
from tweetsent_assets.lib.ml.heldout_stack import write_heldout_stack
from tweetsent_assets.lib.ml.labeled_data import LabeledSource, missing_files, read_labeled
from tweetsent_assets.lib.ml.leakage import eval_texts_seen
from tweetsent_assets.lib.ml.model_card import model_card, read_card, training_summary, write_card
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.normalise import text_hash

from ..tiny_models import build_tiny_roberta

_VOCAB = {
    "negative": "bad awful hate terrible worst rude horrible".split(),
    "neutral": "flight gate today tomorrow ticket airport seat".split(),
    "positive": "good great love amazing best nice excellent".split(),
}


def _examples(n: int, seed: int, prefix: str) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    labels = [LABELS[i % 3] for i in range(n)]
    texts = [" ".join(rng.choice(_VOCAB[label]) for _ in range(rng.randint(3, 6))) + f" {prefix}{i}"
             for i, label in enumerate(labels)]
    return texts, labels


def _tweeteval(folder, texts: list[str], labels: list[str], split: str = "train"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.txt").write_text("0 negative\n1 neutral\n2 positive\n")
    (folder / f"{split}_text.txt").write_text("".join(f"{t} \n" for t in texts))
    (folder / f"{split}_labels.txt").write_text("".join(f"{LABELS.index(lab)}\n" for lab in labels))
    return folder


def test_tweeteval_train_source_reads_its_split_and_an_optional_one_names_what_is_missing(tmp_path):
    folder = _tweeteval(tmp_path / "tweeteval_sentiment", ["good one", "so so", "bad one"],
                        ["positive", "neutral", "negative"])
    train = LabeledSource(path=str(folder), split="train", tweeteval_split="train", optional=True)
    rows = list(read_labeled(train))
    assert [(r["text"], r["label"], r["split"]) for r in rows] == [
        ("good one", "positive", "train"), ("so so", "neutral", "train"), ("bad one", "negative", "train")]
    assert missing_files(train) == []
    val = LabeledSource(path=str(folder), split="eval", optional=True)
    assert missing_files(val) == [str(folder / "val_text.txt"), str(folder / "val_labels.txt")]
    assert missing_files(LabeledSource(path=str(tmp_path / "nope"), split="train")) == [str(tmp_path / "nope")]
    with pytest.raises(ValueError, match="tweeteval_split of .* must be one of"):
        LabeledSource(path=str(folder), split="train", tweeteval_split="dev")


def _labeled(n_train: int, n_val: int, n_other: int) -> pd.DataFrame:
    rows = [{"text": f"tweet {i}", "label": LABELS[i % 3], "source": "/d/tweeteval_sentiment", "split": "train"}
            for i in range(n_train)]
    rows += [{"text": f"held {i}", "label": LABELS[i % 3], "source": "/d/tweeteval_sentiment", "split": "val"}
             for i in range(n_val)]
    rows += [{"text": f"airline {i}", "label": LABELS[i % 3], "source": "/d/airline/Tweets.csv", "split": "train"}
             for i in range(n_other)]
    rows += [{"text": "queue label", "label": "neutral", "source": "/x/active_learning/labeled/a.csv",
              "split": "train"}]
    return pd.DataFrame(rows)


def test_stage1_rows_hold_out_the_stacker_slice_and_follow_the_sources():
    frame = _labeled(100, 20, 50)
    rows = stage1_rows(FinetuneAssetConfig(stacker_rows=30, stage1_other_rows=5), frame)
    assert rows.protocol == "heldout"
    assert len(rows.stacker) == 30 and set(rows.stacker.source) == {"/d/tweeteval_sentiment"}
    assert set(rows.stacker.split) == {"train"}
    assert len(rows.train) == 100 - 30 + 1 + 5 and len(rows.val) == 20
    assert not set(rows.train.text) & set(rows.stacker.text) and not set(rows.val.text) & set(rows.stacker.text)
    assert (rows.train.source == "/d/airline/Tweets.csv").sum() == 5 and "queue label" in set(rows.train.text)
    capped = stage1_rows(FinetuneAssetConfig(stacker_rows=30, train_size=10, val_size=4), frame)
    assert (len(capped.train), len(capped.val), len(capped.stacker)) == (10, 4, 30)


def test_stage1_rows_without_the_training_split_keep_the_old_recipe():
    frame = _labeled(0, 0, 50)
    rows = stage1_rows(FinetuneAssetConfig(train_size=40), frame)
    assert rows.protocol == "crossfit" and len(rows.stacker) == 0
    assert len(rows.train) == 40 and set(rows.train.split) == {"train"}
    with pytest.raises(ValueError, match="'heldout' needs train rows"):
        stage1_rows(FinetuneAssetConfig(stack_protocol="heldout"), frame)
    with pytest.raises(ValueError, match="stack_protocol must be one of"):
        stage1_rows(FinetuneAssetConfig(stack_protocol="folds"), frame)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    base = build_tiny_roberta(root / "base")
    texts, labels = _examples(60, seed=1, prefix="#Train")
    folder = root / "encoder"
    finetune(texts, labels, [], [], FinetuneConfig(base_model=str(base), max_length=32, batch_size=16,
                                                   learning_rate=2e-3, max_epochs=1, patience=None, torch_threads=1),
             folder)
    (folder / "training_hashes.json").write_text(json.dumps({"final": sorted({text_hash(t) for t in texts})}))
    return {"root": root, "folder": folder, "texts": texts, "labels": labels}


def test_heldout_stack_fits_on_unseen_rows_predicts_and_records_what_it_saw(encoder):
    texts, labels = _examples(45, seed=2, prefix="#Stack")
    folder = encoder["root"] / "stack"
    recipe = write_heldout_stack(encoder["folder"], texts, labels, ["transformer", "vader"], folder, max_length=32,
                                 recipe_extra={"data_mix": {"x": 1}})
    assert recipe["protocol"] == "heldout" and recipe["stacker_rows"] == 45 and recipe["data_mix"] == {"x": 1}
    assert json.loads((folder / "recipe.json").read_text())["stacker_features"][:3] == [
        "log_p_negative", "log_p_neutral", "log_p_positive"]
    seen = json.loads((folder / "training_hashes.json").read_text())
    assert len(seen["final"]) == 60 and len(seen["stacker"]) == 45 and seen["base"] == []
    assert not (folder / "encoder" / "training_hashes.json").exists() and not (folder / "oof.csv").exists()
    clear_model_cache()
    model = load_model(ModelSpec(kind="stack", model=str(folder), name="s"))
    probabilities = model.predict(texts[:5] + ["good great love"]).probabilities
    assert np.asarray(probabilities).shape == (6, 3) and np.allclose(np.asarray(probabilities).sum(axis=1), 1)
    assert eval_texts_seen(folder, [text_hash(t) for t in texts[:3]] + [text_hash("never seen")]) == 3
    assert eval_texts_seen(folder, [text_hash(encoder["texts"][0].upper())]) == 1
    assert eval_texts_seen(folder, [text_hash("never seen")]) == 0


def test_heldout_stack_refuses_rows_the_encoder_trained_on(encoder, tmp_path):
    texts, labels = _examples(30, seed=2, prefix="#Stack")
    with pytest.raises(ValueError, match=r"2 of the 32 stacker rows were in the encoder's training data"):
        write_heldout_stack(encoder["folder"], texts + encoder["texts"][:2], labels + encoder["labels"][:2],
                            ["transformer", "vader"], tmp_path / "stack", max_length=32)
    with pytest.raises(FileNotFoundError, match="training texts are unknown"):
        eval_texts_seen(tmp_path, [text_hash("x")])


def test_model_card_names_data_recipe_quality_speed_and_size(tmp_path):
    train = pd.DataFrame({"text": ["good", "bad", "meh", "fine"],
                          "label": ["positive", "negative", "neutral", "positive"],
                          "source": ["/d/tweeteval_sentiment"] * 3 + ["/d/airline/Tweets.csv"], "split": "train"})
    summary = training_summary({"train": train, "early stopping": train.head(1).assign(split="val")},
                               {"max_epochs": 2, "stage": "1"})
    write_card(tmp_path, summary)
    card = read_card(tmp_path)
    assert card["roles"]["train"]["rows"] == 4
    assert card["roles"]["train"]["sources"]["tweeteval_sentiment (train)"] == {
        "negative": 1, "neutral": 1, "positive": 1}
    assert card["roles"]["train"]["texts_sha256"] == training_summary({"t": train.iloc[::-1]})["roles"]["t"][
        "texts_sha256"]
    metrics = {"n": 2000.0, "macro_recall": 0.7123, "macro_recall_ci_low": 0.69, "macro_recall_ci_high": 0.734,
               "recall_negative": 0.61, "recall_neutral": 0.75, "recall_positive": 0.776, "accuracy": 0.7,
               "macro_f1": 0.69, "tweets_per_s": 312.4, "p95_batch_latency_s": 0.25, "eval_texts_seen_in_training": 0}
    text = model_card("minilm-finetuned", "finetuned", metrics, card, evaluation="held out",
                      eval_set="tweeteval_sentiment", size_bytes=91_500_000)
    assert ("- train: 4 rows (Tweets.csv (train): 0 negative, 0 neutral, 1 positive; "
            "tweeteval_sentiment (train): 1 negative, 1 neutral, 1 positive); texts sha256 ") in text
    assert ("- early stopping: 1 rows (tweeteval_sentiment (train, early-stopping slice): 0 negative, "
            "0 neutral, 1 positive)") in text
    assert f"texts sha256 {card['roles']['train']['texts_sha256'][:16]}" in text
    assert '"max_epochs": 2' in text
    assert "macro recall 0.712 [0.690, 0.734] (bootstrap 95%)" in text
    assert "recall per class: negative 0.610, neutral 0.750, positive 0.776" in text
    assert "312 tweets/s" in text and "91.5 MB on disk" in text
    assert "(held out, 2,000 tweets, eval texts seen in training: 0)" in text
    lexicon = model_card("vader", "vader", metrics, read_card(None), evaluation="plain", eval_set="x", size_bytes=0)
    assert "nothing in this project" in lexicon and "**Recipe**: none" in lexicon
