"""The per-process model loader: builds the implementation a ModelSpec names, once per process."""
from __future__ import annotations

import threading

from ...lake.faults import fault_point
from .types import ModelSpec, SentimentModel

_CACHE: dict[ModelSpec, SentimentModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(spec: ModelSpec) -> SentimentModel:
    """The model for `spec`, loaded once per process and reused (one load per Spark Python worker)."""
    with _CACHE_LOCK:
        model = _CACHE.get(spec)
        if model is None:
            fault_point("model_load")
            model = _CACHE[spec] = _build(spec)
        return model


def clear_model_cache() -> None:
    """Forget loaded models (tests, or to free memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _build(spec: ModelSpec) -> SentimentModel:
    if spec.kind == "vader":
        from .vader import VaderModel

        return VaderModel(spec)
    if spec.kind == "mlflow":
        from .registered import registered_spec

        return _build(registered_spec(spec))
    if spec.kind == "stack":
        from .stack import StackModel

        return StackModel(spec)
    from .hf import HFSentimentModel

    return HFSentimentModel.load(spec)
