"""Sentiment models behind one interface: VADER baseline and Hugging Face classifiers."""
from .labels import LABELS, logit_order, normalize_label
from .model import (
    DEFAULT_HF_MODEL,
    ModelSpec,
    ModelUnavailableError,
    Predictions,
    SentimentModel,
    clear_model_cache,
    load_model,
)

__all__ = [
    "DEFAULT_HF_MODEL", "LABELS", "ModelSpec", "ModelUnavailableError", "Predictions", "SentimentModel",
    "clear_model_cache", "load_model", "logit_order", "normalize_label",
]
