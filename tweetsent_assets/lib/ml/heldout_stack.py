"""The stack without cross-fitting: a trained encoder, and a stacker fitted on labeled rows that encoder never saw.

With a training split, the encoder learns from it and a held-out slice of it fits the stacker, so the
eval rows serve selection only. The folder is laid out as `stack_folder` describes, without
out-of-fold files: the model is evaluated on the eval rows directly, after the leak check.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

from .crossfit import predict_probabilities
from .fingerprint import FINGERPRINT_FILE
from .normalise import NORMALISATION, normalise_tweet, text_hash
from .stack_folder import ENCODER_DIR, RECIPE_FILE, STACK_FILE, TRAINING_HASHES_FILE
from .stacker import features, fit_stacker, vader_scores

PROTOCOL = "heldout"


def write_heldout_stack(encoder_dir: str | Path, texts: Sequence[str], labels: Sequence[str], inputs: Sequence[str],
                        folder: str | Path, tau: float | str | None = None, max_length: int = 64,
                        recipe_extra: dict | None = None) -> dict:
    """Copy the encoder into `folder`, fit the stacker on `texts`, write the folder; returns its recipe.

    Raises ValueError when any of `texts` is among the encoder's training texts (its
    `training_hashes.json`): a stacker fitted on rows the encoder learned would trust it too much.
    """
    encoder_dir, folder = Path(encoder_dir), Path(folder)
    encoder_hashes = set(json.loads((encoder_dir / TRAINING_HASHES_FILE).read_text())["final"])
    hashes = [text_hash(t) for t in texts]
    seen = sum(1 for h in hashes if h in encoder_hashes)
    if seen:
        raise ValueError(f"{seen} of the {len(texts)} stacker rows were in the encoder's training data "
                         f"({encoder_dir / TRAINING_HASHES_FILE}); the stacker needs rows the encoder never saw")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(encoder_dir, folder / ENCODER_DIR, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(TRAINING_HASHES_FILE, FINGERPRINT_FILE))
    normalised = [normalise_tweet(t) for t in texts]
    probabilities = predict_probabilities(folder / ENCODER_DIR, normalised, max_length, quantize=False)
    stacker = fit_stacker(inputs, features(inputs, probabilities, vader_scores(normalised)), labels, tau=tau)
    (folder / STACK_FILE).write_text(json.dumps(
        {**stacker.to_dict(), "normalisation": NORMALISATION, "max_length": max_length}, indent=2))
    (folder / TRAINING_HASHES_FILE).write_text(json.dumps(
        {"final": sorted(encoder_hashes), "stacker": sorted(set(hashes)), "base": []}))
    recipe = {"protocol": PROTOCOL, "normalisation": NORMALISATION, "max_length": max_length,
              "stacker_rows": len(texts), "stacker_inputs": list(inputs),
              "stacker_features": stacker.to_dict()["features"], "stacker_tau": "balanced" if tau is None else tau,
              "stacker_tau_fitted": stacker.tau, **(recipe_extra or {})}
    (folder / RECIPE_FILE).write_text(json.dumps(recipe, indent=2, sort_keys=True, default=str))
    return recipe
