"""Canonical sentiment labels and mapping of model-specific label names onto them."""
from __future__ import annotations

from typing import Mapping

LABELS = ("negative", "neutral", "positive")

_ALIASES = {
    "label_0": "negative", "label_1": "neutral", "label_2": "positive",
    "neg": "negative", "neu": "neutral", "pos": "positive",
    "negative": "negative", "neutral": "neutral", "positive": "positive",
}


def normalize_label(name: str) -> str:
    """The canonical label for a model's label name (LABEL_n, NEG/NEU/POS, full names; any case)."""
    canonical = _ALIASES.get(str(name).strip().lower())
    if canonical is None:
        raise ValueError(f"unknown sentiment label {name!r}; expected one of {sorted(_ALIASES)} (any case)")
    return canonical


def logit_order(id2label: Mapping[int | str, str]) -> tuple[int, ...]:
    """For each model output column i, the index in LABELS it belongs to.

    Works for 3-class models in any order and for 2-class negative/positive models (neutral then
    gets probability 0). A 2-class model with generic names LABEL_0/LABEL_1 is read as
    negative/positive, the convention binary sentiment checkpoints use.
    """
    by_index = {int(k): v for k, v in id2label.items()}
    if sorted(by_index) != list(range(len(by_index))) or len(by_index) not in (2, 3):
        raise ValueError(f"id2label must have keys 0..1 or 0..2, got {dict(id2label)!r}")
    names = [by_index[i] for i in range(len(by_index))]
    if len(names) == 2 and [n.strip().lower() for n in names] == ["label_0", "label_1"]:
        names = ["negative", "positive"]
    targets = tuple(LABELS.index(normalize_label(n)) for n in names)
    if len(set(targets)) != len(targets):
        raise ValueError(f"id2label maps several outputs to the same sentiment: {dict(id2label)!r}")
    if len(targets) == 2 and set(targets) != {0, 2}:
        raise ValueError(f"a 2-class model must be negative/positive, got {dict(id2label)!r}")
    return targets
