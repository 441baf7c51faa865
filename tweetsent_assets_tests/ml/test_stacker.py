"""The stacker: features, class-balanced fit, JSON round trip, out-of-fold scoring."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.stacker import Stacker, feature_names, features, fit_stacker, out_of_fold, vader_scores


def _data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.15, 0.45, 0.40])
    probs = rng.dirichlet([1, 1, 1], size=n) * 0.3
    probs[np.arange(n), y] += 0.7
    vader = np.column_stack([rng.random(n), rng.random(n), rng.random(n), rng.uniform(-1, 1, n)])
    return probs, vader, [LABELS[i] for i in y]


def test_features_and_names():
    probs, vader, _ = _data(5)
    x = features(["transformer", "vader"], probs, vader)
    assert x.shape == (5, 7) and len(feature_names(["transformer", "vader"])) == 7
    assert np.allclose(x[:, :3], np.log(np.clip(probs, 1e-4, 1)))
    assert features(["vader"], None, vader).shape == (5, 4)
    with pytest.raises(ValueError, match="subset"):
        features(["lexicon"], probs, vader)
    scores = vader_scores(["I love this", "I hate this", "a table"])
    assert scores.shape == (3, 4) and scores[0, 3] > 0.3 and scores[1, 3] < -0.3 and scores[2, 3] == 0


def test_fit_round_trip_and_balanced_recall():
    probs, vader, labels = _data()
    x = features(["transformer", "vader"], probs, vader)
    stacker = fit_stacker(["transformer", "vader"], x, labels)
    p = stacker.predict_proba(x)
    assert p.shape == (300, 3) and np.allclose(p.sum(axis=1), 1)
    predicted = [LABELS[i] for i in p.argmax(axis=1)]
    recalls = [np.mean([pr == t for pr, t in zip(predicted, labels) if t == label]) for label in LABELS]
    assert min(recalls) > 0.8
    again = Stacker.from_dict(json.loads(json.dumps(stacker.to_dict())))
    assert np.allclose(again.predict_proba(x), p)


def test_out_of_fold_uses_other_folds_only():
    probs, vader, labels = _data(240)
    x = features(["transformer"], probs, vader)
    folds = [i % 3 for i in range(240)]
    oof, extra = out_of_fold(["transformer"], x, labels, folds, {"copy": x.copy()})
    assert np.allclose(oof, extra["copy"])
    held = np.array(folds) == 0
    own = fit_stacker(["transformer"], x[~held], list(np.array(labels, dtype=object)[~held]))
    assert np.allclose(oof[held], own.predict_proba(x[held]))
    assert not np.allclose(oof[held], fit_stacker(["transformer"], x, labels).predict_proba(x[held]))
