"""k-fold cross-fitted fine-tuning on the in-domain labels, then the shipped model on all of them.

Each fold's model is trained with a fixed recipe (no early stopping on held-out rows) and predicts
only its own held-out fold, so those out-of-fold probabilities are an honest evaluation of the
recipe; the model that ships is retrained on every row with the same recipe.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .finetune import FinetuneConfig, finetune
from .folds import assign_folds
from .models.labels import LABELS
from .normalise import NORMALISATION, normalise_tweet, text_hash

Progress = Callable[[str], None]


@dataclass
class CrossfitConfig:
    """The stage-2 recipe: folds, epochs and optimiser settings shared by every fold and the final model."""

    folds: int = 5
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 64
    seed: int = 0
    class_weighting: bool = True
    loss_tau: float | None = None
    pseudo_threshold: float = 0.9
    pseudo_weight: float = 0.5
    torch_threads: int | None = None
    progress_every_steps: int = 20

    def finetune_config(self, base_model: str | None, seed: int) -> FinetuneConfig:
        return FinetuneConfig(base_model=base_model, max_length=self.max_length, batch_size=self.batch_size,
                              learning_rate=self.learning_rate, max_epochs=self.epochs, patience=None,
                              eval_every_steps=self.progress_every_steps, seed=seed,
                              class_weighting=self.class_weighting, loss_tau=self.loss_tau,
                              torch_threads=self.torch_threads)


@dataclass
class CrossfitResult:
    """Out-of-fold transformer probabilities (fp32 and int8 fold models), folds, and what each model saw."""

    hashes: list[str]
    labels: list[str]
    folds: list[int]
    oof: np.ndarray
    oof_int8: np.ndarray
    training_hashes: dict[str, list[str]]
    encoder_dir: Path
    seconds: float
    fold_seconds: list[float] = field(default_factory=list)
    extra_rows: int = 0
    normalisation: str = NORMALISATION
    pseudo_rows: dict[str, int] = field(default_factory=dict)

    def recipe(self, config: CrossfitConfig) -> dict:
        return {**asdict(config), "normalisation": self.normalisation, "in_domain_rows": len(self.hashes),
                "always_train_rows": self.extra_rows, "pseudo_rows": self.pseudo_rows}


def crossfit(texts: Sequence[str], labels: Sequence[str], base_model: str | None, config: CrossfitConfig,
             output_dir: str | Path, progress: Progress = print, extra_texts: Sequence[str] = (),
             extra_labels: Sequence[str] = (), train_final: bool = True, extra_polar: Sequence[bool] = (),
             extra_weights: Sequence[float] = (), keep_fold_models: bool = False,
             unlabeled_texts: Sequence[str] = ()) -> CrossfitResult:
    """Train `config.folds` fold models and the final model (saved to `output_dir`/encoder).

    `extra_texts` (labels that are never evaluated: active-learning labels, or other sources' rows)
    join the training rows of every fold and of the final model; any whose hash is among `texts` is
    dropped. `extra_polar` marks extra rows whose loss ignores the neutral logit (two-class
    sources) and `extra_weights` scales their loss (default: no flag, weight 1); in-domain rows
    always weigh 1. `train_final=False` stops after the folds (benchmarks that only need the
    out-of-fold figures). `keep_fold_models` leaves each fold's model in `output_dir`/fold-<k>
    (benchmarks that ensemble them). With `unlabeled_texts` every model is trained twice
    (self-training): the first model labels them, and the second trains on its rows plus the texts
    it labeled with probability >= `config.pseudo_threshold`, at loss weight `config.pseudo_weight`.
    """
    started = time.monotonic()
    hashes = [text_hash(t) for t in texts]
    evaluated = set(hashes)
    polar_flags = list(extra_polar) or [False] * len(extra_texts)
    weights = list(extra_weights) or [1.0] * len(extra_texts)
    if not len(polar_flags) == len(weights) == len(extra_texts) == len(extra_labels):
        raise ValueError(f"{len(extra_texts)} extra texts need as many labels, polar flags and weights, got "
                         f"{len(extra_labels)}, {len(polar_flags)} and {len(weights)}")
    extra = [row for row in zip(extra_texts, extra_labels, polar_flags, weights) if text_hash(row[0]) not in evaluated]
    texts, labels = list(texts) + [row[0] for row in extra], list(labels) + [row[1] for row in extra]
    polar = [False] * len(hashes) + [bool(row[2]) for row in extra]
    row_weights = [1.0] * len(hashes) + [float(row[3]) for row in extra]
    hashes += [text_hash(row[0]) for row in extra]
    normalised = [normalise_tweet(t) for t in texts]
    n_eval = len(texts) - len(extra)
    folds = assign_folds(hashes[:n_eval], labels[:n_eval], config.folds, config.seed) + [-1] * len(extra)
    rows = _Rows(normalised, labels, polar, row_weights, hashes)
    labeled = set(hashes)
    pool = [(normalise_tweet(t), h) for h, t in {text_hash(t): t for t in unlabeled_texts}.items()
            if h not in labeled]
    pseudo_rows: dict[str, int] = {}
    output_dir = Path(output_dir)
    oof = np.zeros((n_eval, len(LABELS)))
    oof_int8 = np.zeros_like(oof)
    seen: dict[str, list[str]] = {}
    fold_seconds = []
    for fold in range(config.folds):
        began = time.monotonic()
        train = [i for i, f in enumerate(folds) if f != fold]
        held = [i for i, f in enumerate(folds) if f == fold]
        folder = output_dir / f"fold-{fold}"
        progress(f"fold {fold + 1}/{config.folds}: training on {len(train)} tweets, predicting {len(held)}")
        trained = _train_maybe_twice(rows, train, pool, base_model, config, config.seed * 100 + fold, folder,
                                     progress, f"fold {fold + 1}/{config.folds}")
        oof[held] = predict_probabilities(folder, [normalised[i] for i in held], config.max_length, quantize=False)
        oof_int8[held] = predict_probabilities(folder, [normalised[i] for i in held], config.max_length, quantize=True)
        seen[f"fold-{fold}"] = sorted(trained)
        pseudo_rows[f"fold-{fold}"] = len(trained) - len({hashes[i] for i in train})
        if not keep_fold_models:
            shutil.rmtree(folder, ignore_errors=True)
        fold_seconds.append(time.monotonic() - began)
    encoder = output_dir / "encoder"
    if train_final:
        progress(f"final model: training on all {len(texts)} tweets ({len(extra)} of them never evaluated)")
        trained = _train_maybe_twice(rows, list(range(len(texts))), pool, base_model, config,
                                     config.seed * 100 + config.folds, encoder, progress, "final")
        seen["final"] = sorted(trained)
        pseudo_rows["final"] = len(trained) - len(set(hashes))
    return CrossfitResult(hashes=hashes[:n_eval], labels=labels[:n_eval], folds=folds[:n_eval], oof=oof,
                          oof_int8=oof_int8, training_hashes=seen, encoder_dir=encoder,
                          seconds=time.monotonic() - started, fold_seconds=fold_seconds, extra_rows=len(extra),
                          pseudo_rows=pseudo_rows)


@dataclass
class _Rows:
    """Every labeled training row, normalised, with its two-class flag, loss weight and hash."""

    texts: list[str]
    labels: list[str]
    polar: list[bool]
    weights: list[float]
    hashes: list[str]

    def plus(self, texts: list[str], labels: list[str], weight: float, hashes: list[str]) -> "_Rows":
        return _Rows(self.texts + texts, self.labels + labels, self.polar + [False] * len(texts),
                     self.weights + [weight] * len(texts), self.hashes + hashes)


def _train_maybe_twice(rows: _Rows, train: list[int], pool: list[tuple[str, str]], base_model: str | None,
                       config: CrossfitConfig, seed: int, folder: Path, progress: Progress, what: str) -> set[str]:
    """Train on `train`; with a pool, label it with that model and train again with the confident rows.

    Returns the hashes of every text the saved model trained on, pseudo-labeled ones included.
    """
    _train(rows, train, base_model, config, seed, folder, progress, what)
    if not pool:
        return {rows.hashes[i] for i in train}
    probs = predict_probabilities(folder, [text for text, _ in pool], config.max_length, quantize=False)
    keep = np.flatnonzero(probs.max(axis=1) >= config.pseudo_threshold)
    progress(f"{what}: self-training with {len(keep)} of {len(pool)} unlabeled tweets "
             f"(probability >= {config.pseudo_threshold})")
    both = rows.plus([pool[i][0] for i in keep], [LABELS[j] for j in probs[keep].argmax(axis=1)],
                     config.pseudo_weight, [pool[i][1] for i in keep])
    shutil.rmtree(folder, ignore_errors=True)
    train = train + list(range(len(rows.texts), len(both.texts)))
    _train(both, train, base_model, config, seed, folder, progress, f"{what}, self-trained")
    return {both.hashes[i] for i in train}


def _train(rows: _Rows, train: list[int], base_model: str | None, config: CrossfitConfig, seed: int, folder: Path,
           progress: Progress, what: str) -> None:
    def report(step: int, epoch: float, train_loss: float, _metrics: dict) -> None:
        progress(f"  {what}: step {step}, epoch {epoch:.2f}, train loss {train_loss:.4f}")

    finetune([rows.texts[i] for i in train], [rows.labels[i] for i in train], [], [],
             config.finetune_config(base_model, seed), folder, on_eval=report,
             train_polar_only=[rows.polar[i] for i in train], train_weights=[rows.weights[i] for i in train])


def predict_probabilities(folder: Path, texts: list[str], max_length: int, quantize: bool) -> np.ndarray:
    """(n, 3) class probabilities of the encoder saved in `folder` for already normalised `texts`."""
    from .models.hf import HFSentimentModel
    from .models.types import ModelSpec

    model = HFSentimentModel.load(ModelSpec(kind="hf", model=str(folder), name="fold", max_length=max_length,
                                            quantize=quantize))
    return model.predict(texts).probabilities
