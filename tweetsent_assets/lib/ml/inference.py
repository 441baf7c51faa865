"""Spark-side sentiment scoring as a pandas iterator function for DataFrame.mapInPandas.

Pure pandas (no pyspark import) so it can be tested without Spark; each Python worker loads the
model once through load_model's per-process cache.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from .models.labels import LABELS
from .models.loader import load_model
from .models.types import ModelSpec, SentimentModel

SCORE_SCHEMA = (
    "id string, label string, score double, p_negative double, p_neutral double, p_positive double, "
    "model_name string, model_version string"
)
SCORE_COLUMNS = ("id", "label", "score", "p_negative", "p_neutral", "p_positive", "model_name", "model_version")
_PROB_COLUMNS = tuple(f"p_{label}" for label in LABELS)
_FOLDER_KINDS = ("hf", "stack")

_threads_lock = threading.Lock()
_threads_set = False


def configure_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads once per process: `threads`, else OMP_NUM_THREADS, else 1.

    Spark sets OMP_NUM_THREADS to spark.task.cpus in its Python workers, so task slots x threads
    stays at the core count instead of every worker grabbing all cores (oversubscription). The
    tokenizer's own thread pool is turned off for the same reason.
    """
    global _threads_set
    if threads is None:
        try:
            threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
        except ValueError:
            threads = 1
    threads = max(1, threads)
    with _threads_lock:
        if not _threads_set:
            import torch

            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            torch.set_num_threads(threads)
            _threads_set = True
    return threads


def empty_scores() -> pd.DataFrame:
    """A zero-row frame with SCORE_SCHEMA's columns and dtypes."""
    return pd.DataFrame({
        column: pd.Series(dtype="float64" if column == "score" or column.startswith("p_") else "object")
        for column in SCORE_COLUMNS
    })


def score_frame(frame: pd.DataFrame, model: SentimentModel, text_column: str, id_column: str) -> pd.DataFrame:
    """Score one batch; identical texts are scored once, null texts get null label and scores."""
    if frame.empty:
        return empty_scores()
    codes, uniques = pd.factorize(frame[text_column], use_na_sentinel=True)
    predictions = model.predict([str(text) for text in uniques])
    known = codes >= 0
    take = np.where(known, codes, 0)
    probabilities = np.full((len(frame), len(LABELS)), np.nan)
    scores = np.full(len(frame), np.nan)
    labels = np.full(len(frame), None, dtype=object)
    if len(uniques):
        probabilities[known] = predictions.probabilities[take[known]]
        scores[known] = np.asarray(predictions.scores, dtype=np.float64)[take[known]]
        labels[known] = np.asarray(predictions.labels, dtype=object)[take[known]]
    ids = frame[id_column]
    result = pd.DataFrame({
        "id": ids.astype(str).where(ids.notna(), None).to_numpy(dtype=object),
        "label": labels,
        "score": scores,
        **{column: probabilities[:, i] for i, column in enumerate(_PROB_COLUMNS)},
        "model_name": model.name,
        "model_version": model.version,
    })
    return result[list(SCORE_COLUMNS)]


def with_absolute_folder(spec: ModelSpec) -> ModelSpec:
    """`spec` with a relative local model folder made absolute; anything else unchanged.

    Spark's Python workers (a Connect server's above all) run in another working directory, where a
    relative folder does not exist and the loader would take it for a hub id.
    """
    folder = spec.model
    if spec.kind not in _FOLDER_KINDS or not folder or os.path.isabs(folder) or not os.path.isdir(folder):
        return spec
    return dataclasses.replace(spec, model=os.path.abspath(folder))


def make_scorer(
    spec: ModelSpec, text_column: str = "cleaned_text", id_column: str = "id", threads: int | None = None,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A function for `df.mapInPandas(fn, SCORE_SCHEMA)` scoring `text_column` with `spec`'s model.

    The model is loaded at the first non-empty batch (once per Python worker, then reused), so
    empty partitions never load it; torch threads follow configure_torch_threads(threads). A
    relative model folder is made absolute here, on the driver (with_absolute_folder).
    """
    spec = with_absolute_folder(spec)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = _model_on_first_use(spec, threads)
        for frame in batches:
            yield empty_scores() if frame.empty else score_frame(frame, model(), text_column, id_column)

    return score


def _model_on_first_use(spec: ModelSpec, threads: int | None) -> Callable[[], SentimentModel]:
    """A getter that loads `spec`'s model on its first call (setting torch's threads first), then returns it."""
    loaded: list[SentimentModel] = []

    def model() -> SentimentModel:
        if not loaded:
            if spec.kind != "vader":
                configure_torch_threads(threads)
            loaded.append(load_model(spec))
        return loaded[0]

    return model


def make_row_filler(
    spec: ModelSpec, text_column: str = "norm_text", threads: int | None = None,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """A mapInPandas function that scores the rows whose `label` is null and passes every row on, minus `text_column`.

    For a job that scores and writes in one pass: rows already predicted (cache hits) keep their
    prediction columns, identical texts in one partition are scored once, and the model loads as
    in make_scorer, only for a partition that has a row to score.
    """
    spec = with_absolute_folder(spec)

    def fill(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = _model_on_first_use(spec, threads)
        for frame in batches:
            need = frame["label"].isna().to_numpy()
            if need.any():
                scored = score_frame(frame.loc[need], model(), text_column, text_column)
                frame = frame.astype({column: object for column in ("label", "model_name", "model_version")})
                for column in SCORE_COLUMNS[1:]:
                    frame.loc[need, column] = scored[column].to_numpy()
            yield frame.drop(columns=[text_column])

    return fill
