"""Write and read a stack folder: the shipped encoder, its stacker, out-of-fold predictions and provenance.

Layout: `encoder/` (save_pretrained), `stack.json` (stacker + normalisation), `oof.csv` and
`oof-int8.csv` (per in-domain tweet: hash, fold, label, stacker probabilities from models that
never saw it), `training_hashes.json` (what each fold model, the final model and the base saw) and
`recipe.json`.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .crossfit import CrossfitConfig, CrossfitResult
from .models.labels import LABELS
from .stacker import features, fit_stacker, out_of_fold

STACK_FILE = "stack.json"
ENCODER_DIR = "encoder"
TRAINING_HASHES_FILE = "training_hashes.json"
RECIPE_FILE = "recipe.json"
PROBABILITY_COLUMNS = [f"p_{label}" for label in LABELS]


def oof_file(quantize: bool) -> str:
    return "oof-int8.csv" if quantize else "oof.csv"


def write_stack_folder(result: CrossfitResult, config: CrossfitConfig, inputs: Sequence[str], texts: Sequence[str],
                       vader: np.ndarray, folder: str | Path, base_training_hashes: Sequence[str] = (),
                       recipe_extra: dict | None = None, tau: float | str | None = None) -> Path:
    """Fit the final stacker on out-of-fold features, score each fold with its own stacker, write the folder.

    `tau` is the stackers' decision rule (see `stacker.fit_stacker`); the recipe records it and the
    final stacker's fitted tau.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x, x_int8 = features(inputs, result.oof, vader), features(inputs, result.oof_int8, vader)
    oof, other = out_of_fold(inputs, x, result.labels, result.folds, {"int8": x_int8}, tau=tau)
    stacker = fit_stacker(inputs, x, result.labels, tau=tau)
    if result.encoder_dir.resolve() != (folder / ENCODER_DIR).resolve():
        shutil.rmtree(folder / ENCODER_DIR, ignore_errors=True)
        shutil.move(str(result.encoder_dir), str(folder / ENCODER_DIR))
    (folder / STACK_FILE).write_text(json.dumps(
        {**stacker.to_dict(), "normalisation": result.normalisation, "max_length": config.max_length}, indent=2))
    for quantize, probs in ((False, oof), (True, other["int8"])):
        frame = pd.DataFrame({"text_hash": result.hashes, "fold": result.folds, "label": result.labels})
        frame[PROBABILITY_COLUMNS] = probs
        frame.to_csv(folder / oof_file(quantize), index=False)
    hashes = {**result.training_hashes, "base": sorted(set(base_training_hashes))}
    (folder / TRAINING_HASHES_FILE).write_text(json.dumps(hashes))
    recipe = {**result.recipe(config), "stacker_inputs": list(inputs), "training_s": round(result.seconds, 1),
              "stacker_features": stacker.to_dict()["features"], "stacker_tau": "balanced" if tau is None else tau,
              "stacker_tau_fitted": stacker.tau, **(recipe_extra or {})}
    (folder / RECIPE_FILE).write_text(json.dumps(recipe, indent=2, sort_keys=True))
    return folder


def read_recipe(folder: str | Path) -> dict:
    path = Path(folder) / RECIPE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def out_of_fold_probabilities(folder: str | Path, eval_hashes: Sequence[str], quantize: bool) -> np.ndarray:
    """(n, 3) out-of-fold probabilities for the eval rows, in their order.

    Raises ValueError when an eval text has no out-of-fold prediction or any model that produced
    one saw that text in training (see `leaked_eval_rows`).
    """
    frame = pd.read_csv(Path(folder) / oof_file(quantize), keep_default_na=False).drop_duplicates("text_hash")
    by_hash = frame.set_index("text_hash")
    missing = [h for h in eval_hashes if h not in by_hash.index]
    if missing:
        raise ValueError(f"{len(missing)} eval texts have no out-of-fold prediction: the model was trained on "
                         "other in-domain rows (retrain it)")
    leaked = leaked_eval_rows(folder, eval_hashes)
    if leaked:
        raise ValueError(f"{leaked} eval texts were in the training data of the model that scored them")
    return by_hash.loc[list(eval_hashes), PROBABILITY_COLUMNS].to_numpy(dtype=np.float64)


def out_of_fold_metrics(folder: str | Path) -> dict[str, float]:
    """Out-of-fold macro recall with its bootstrap 95% interval, fp32 and int8, for the training run's record."""
    from .stats import bootstrap_interval, metric_value

    metrics = {}
    for quantize, prefix in ((False, "oof"), (True, "oof_int8")):
        frame = pd.read_csv(Path(folder) / oof_file(quantize), keep_default_na=False)
        predicted = [LABELS[i] for i in frame[PROBABILITY_COLUMNS].to_numpy().argmax(axis=1)]
        low, high = bootstrap_interval(list(frame.label), predicted)
        metrics.update({f"{prefix}_macro_recall": metric_value(list(frame.label), predicted),
                        f"{prefix}_macro_recall_ci_low": low, f"{prefix}_macro_recall_ci_high": high})
    return metrics


def leaked_eval_rows(folder: str | Path, eval_hashes: Sequence[str]) -> int:
    """How many eval texts were seen in training by the fold model that scored them, or by the base model."""
    folder = Path(folder)
    seen = {k: set(v) for k, v in json.loads((folder / TRAINING_HASHES_FILE).read_text()).items()}
    fold_of = dict(pd.read_csv(folder / oof_file(False), keep_default_na=False)[["text_hash", "fold"]]
                   .itertuples(index=False, name=None))
    return sum(1 for h in eval_hashes
               if h in seen.get("base", set()) or h in seen.get(f"fold-{fold_of.get(h)}", set()))
