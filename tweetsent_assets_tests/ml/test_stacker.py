"""The stacker: features, class-balanced and logit-adjusted fits, JSON round trip, out-of-fold scoring."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.stacker import (
    TAU_GRID,
    Stacker,
    choose_tau,
    feature_names,
    features,
    fit_stacker,
    out_of_fold,
    parse_tau,
    vader_scores,
)


def _data(n: int = 300, seed: int = 0, signal: float = 0.7):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.15, 0.45, 0.40])
    probs = rng.dirichlet([1, 1, 1], size=n) * (1 - signal)
    probs[np.arange(n), y] += signal
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


def test_logit_adjustment_shifts_decisions_towards_the_rare_class():
    probs, vader, labels = _data(600, signal=0.15)
    x = features(["transformer"], probs, vader)
    plain, adjusted = (fit_stacker(["transformer"], x, labels, tau=tau) for tau in (0.0, 1.0))
    prior = np.array([labels.count(label) for label in LABELS]) / len(labels)
    assert adjusted.tau == 1.0 and np.allclose(adjusted.log_prior, np.log(prior))
    assert np.allclose(plain.coef, adjusted.coef)
    negatives = [(s.predict_proba(x).argmax(axis=1) == 0).sum() for s in (plain, adjusted)]
    assert negatives[1] > negatives[0]
    again = Stacker.from_dict(json.loads(json.dumps(adjusted.to_dict())))
    assert again.tau == 1.0 and np.allclose(again.predict_proba(x), adjusted.predict_proba(x))
    balanced = fit_stacker(["transformer"], x, labels)
    assert balanced.tau is None and balanced.log_prior is None and not np.allclose(balanced.coef, plain.coef)


def test_tau_chosen_out_of_fold_comes_from_the_grid():
    probs, vader, labels = _data(600, signal=0.15)
    x = features(["transformer", "vader"], probs, vader)
    y = np.array([LABELS.index(label) for label in labels])
    chosen = choose_tau(x, y)
    assert chosen in TAU_GRID and chosen > 0
    assert fit_stacker(["transformer", "vader"], x, labels, tau="oof").tau == chosen
    folds = [i % 3 for i in range(600)]
    oof, _ = out_of_fold(["transformer", "vader"], x, labels, folds, tau="oof")
    held = np.array(folds) == 1
    own = fit_stacker(["transformer", "vader"], x[~held], list(np.array(labels, dtype=object)[~held]), tau="oof")
    assert np.allclose(oof[held], own.predict_proba(x[held]))


def test_tau_is_parsed_and_bad_values_named():
    assert parse_tau("balanced") is None and parse_tau("oof") == "oof" and parse_tau("0.5") == 0.5
    for bad in ("-1", "auto"):
        with pytest.raises(ValueError, match=repr(bad)):
            parse_tau(bad)
    with pytest.raises(ValueError, match="-2"):
        fit_stacker(["transformer"], np.zeros((3, 3)), list(LABELS), tau=-2)
    old = {"inputs": ["transformer"], "mean": [0.0] * 3, "scale": [1.0] * 3, "coef": np.eye(3).tolist(),
           "intercept": [0.0] * 3}
    assert Stacker.from_dict(old).tau is None
