"""A stacked model: normalised text -> fine-tuned encoder probabilities (+ VADER scores) -> logistic regression.

The folder is what `lib.ml.stack_folder` writes; the same `normalise_tweet` runs here as in training.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..normalise import normalise_tweet
from ..stack_folder import ENCODER_DIR, STACK_FILE
from ..stacker import Stacker, features, vader_scores
from .types import ModelSpec, ModelUnavailableError, Predictions


class StackModel:
    """SentimentModel over a stack folder; `spec.quantize` makes its encoder int8."""

    def __init__(self, spec: ModelSpec) -> None:
        folder = Path(spec.model or "")
        if not (folder / STACK_FILE).is_file():
            raise ModelUnavailableError(f"{str(folder)!r} is not a stack folder (no {STACK_FILE}); train it first")
        payload = json.loads((folder / STACK_FILE).read_text())
        self.stacker = Stacker.from_dict(payload)
        self.name = spec.name
        self.version = spec.version or _folder_version(folder) + ("-int8" if spec.quantize else "")
        self._encoder = None
        if "transformer" in self.stacker.inputs:
            from .hf import HFSentimentModel

            self._encoder = HFSentimentModel.load(ModelSpec(
                kind="hf", model=str(folder / ENCODER_DIR), name=spec.name, version=self.version,
                max_length=payload.get("max_length", spec.max_length), batch_size=spec.batch_size,
                quantize=spec.quantize))
        self._analyzer = None
        if "vader" in self.stacker.inputs:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._analyzer = SentimentIntensityAnalyzer()

    def predict(self, texts: list[str]) -> Predictions:
        normalised = [normalise_tweet(t) for t in texts]
        probs = self._encoder.predict(normalised).probabilities if self._encoder is not None else None
        vader = vader_scores(normalised, self._analyzer) if self._analyzer is not None else None
        return Predictions.from_probabilities(self.stacker.predict_proba(features(self.stacker.inputs, probs, vader)))


def _folder_version(folder: Path) -> str:
    """Content hash of the stacker and the encoder's config and weights."""
    digest = hashlib.sha256((folder / STACK_FILE).read_bytes())
    encoder = folder / ENCODER_DIR
    for path in sorted(encoder.glob("*")) if encoder.is_dir() else []:
        if path.name == "config.json" or path.suffix in (".safetensors", ".bin"):
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:12]
