"""Deterministic, label-stratified k-fold assignment by text hash: duplicates always share a fold."""
from __future__ import annotations

import hashlib
from typing import Sequence


def assign_folds(hashes: Sequence[str], labels: Sequence[str], k: int, seed: int = 0) -> list[int]:
    """Fold 0..k-1 per row; rows with the same hash share a fold, each label is spread evenly over the folds."""
    if k < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {k}")
    if len(hashes) != len(labels):
        raise ValueError(f"{len(hashes)} hashes but {len(labels)} labels")
    first_label: dict[str, str] = {}
    for h, label in zip(hashes, labels):
        first_label.setdefault(h, label)
    fold_of: dict[str, int] = {}
    for label in sorted(set(first_label.values())):
        group = sorted((h for h, lab in first_label.items() if lab == label),
                       key=lambda h: hashlib.sha1(f"{seed}:{h}".encode()).hexdigest())
        offset = len(fold_of) % k
        fold_of.update({h: (offset + i) % k for i, h in enumerate(group)})
    return [fold_of[h] for h in hashes]
