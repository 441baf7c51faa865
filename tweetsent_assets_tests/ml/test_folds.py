"""Fold assignment: stratified, deterministic, duplicates together."""
from __future__ import annotations

from collections import Counter

import pytest

from tweetsent_assets.lib.ml.folds import assign_folds


def test_stratified_deterministic_and_duplicates_share_a_fold():
    hashes = [f"h{i}" for i in range(90)] + ["h0", "h1", "h0"]
    labels = ["negative"] * 30 + ["neutral"] * 30 + ["positive"] * 30 + ["negative", "negative", "positive"]
    folds = assign_folds(hashes, labels, k=3, seed=7)
    assert folds == assign_folds(hashes, labels, k=3, seed=7)
    assert folds != assign_folds(hashes, labels, k=3, seed=8)
    assert folds[90] == folds[0] and folds[92] == folds[0] and folds[91] == folds[1]
    for label in ("negative", "neutral", "positive"):
        per_fold = Counter(f for f, lab in zip(folds[:90], labels[:90]) if lab == label)
        assert sorted(per_fold.values()) == [10, 10, 10]


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(["a"], ["neutral"], k=1)
    with pytest.raises(ValueError, match="2 hashes but 1 labels"):
        assign_folds(["a", "b"], ["neutral"], k=2)
