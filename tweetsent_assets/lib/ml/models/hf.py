"""Hugging Face sequence-classification sentiment model, loaded from a local folder or the hub."""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .labels import LABELS, logit_order
from .types import DEFAULT_HF_MODEL, ModelSpec, ModelUnavailableError, Predictions

__all__ = ["DEFAULT_HF_MODEL", "HFSentimentModel"]
HUB_PROBE_TIMEOUT_S = 5.0
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_TRUE = {"1", "on", "yes", "true"}


class HFSentimentModel:
    """SentimentModel over AutoModelForSequenceClassification, with outputs reordered to LABELS."""

    def __init__(self, tokenizer: Any, model: Any, spec: ModelSpec, version: str) -> None:
        self.name = spec.name
        self.version = version
        self.tokenizer = tokenizer
        self.model = model.eval()
        self._spec = spec
        self._targets = list(logit_order(model.config.id2label))
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @classmethod
    def load(cls, spec: ModelSpec) -> "HFSentimentModel":
        """Load `spec.model` (default DEFAULT_HF_MODEL) or raise ModelUnavailableError within seconds.

        With `spec.quantize` the Linear layers become int8 dynamically quantized ones (a distinct version).
        """
        model_id = spec.model or DEFAULT_HF_MODEL
        tokenizer, model, folder = _load_pretrained(model_id)
        version = spec.version or _model_version(model_id, folder)
        if spec.quantize:
            model = quantize_int8(model)
            version = version if spec.version else f"{version}-int8"
        return cls(tokenizer, model, spec, version)

    def predict(self, texts: list[str]) -> Predictions:
        """Tokenize once, then score in token-length-sorted, dynamically padded batches; input order kept."""
        texts = list(texts)
        probabilities = np.zeros((len(texts), len(LABELS)), dtype=np.float64)
        if not texts:
            return Predictions.from_probabilities(probabilities)
        ids = self.tokenizer(texts, truncation=True, max_length=self._spec.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        batch_size = self._spec.batch_size
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                input_ids, attention_mask = self._pad([ids[i] for i in rows])
                logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
                batch = torch.softmax(logits.double(), dim=-1).cpu().numpy()
                probabilities[np.ix_(rows, self._targets)] = batch
        return Predictions.from_probabilities(probabilities)

    def _pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest sequence of this batch (dynamic padding)."""
        width = max(len(s) for s in sequences)
        input_ids = torch.full((len(sequences), width), self._pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            input_ids[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
            attention_mask[row, :len(sequence)] = 1
        return input_ids, attention_mask


def quantize_int8(model: Any) -> Any:
    """int8 dynamic quantization of the Linear layers: weights per output channel, activations per batch.

    Per-channel weight scales lose less accuracy than one scale per matrix at the same speed.
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
        return quantize_dynamic(model.eval(), {torch.nn.Linear: per_channel_dynamic_qconfig})


def _offline() -> bool:
    import huggingface_hub.constants as hub

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").lower()
    return env in _TRUE or bool(hub.HF_HUB_OFFLINE)


def _unavailable(model_id: str, reason: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"sentiment model {model_id!r} cannot be loaded: {reason}. Set TWEETSENT_MODEL to a local folder "
        "saved with save_pretrained() (tokenizer and model), or pre-download it into the Hugging Face cache "
        f"(`hf download {model_id}`) on a machine with network access."
    )


def _from_pretrained(source: str, local_files_only: bool) -> tuple[Any, Any]:
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
    model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=local_files_only)
    return tokenizer, model


def _looks_like_path(model_id: str) -> bool:
    return model_id.startswith((".", "~", os.sep)) or model_id.count("/") > 1 or Path(model_id).exists()


def _load_pretrained(model_id: str) -> tuple[Any, Any, Path | None]:
    """Local folder, then the HF cache, then (only if a quick probe reaches it) the hub.

    The probe is one request without retries, so an unreachable hub fails in seconds instead of
    the ~20 s of retries huggingface_hub spends per file.
    """
    if _looks_like_path(model_id):
        folder = Path(model_id).expanduser()
        if not folder.is_dir():
            raise _unavailable(model_id, "no such local folder")
        if not (folder / "config.json").is_file():
            raise _unavailable(model_id, "the local folder is not a saved model (no config.json)")
        try:
            return (*_from_pretrained(str(folder), local_files_only=True), folder)
        except (OSError, ValueError) as exc:
            raise _unavailable(model_id, f"the local folder is not a saved model ({exc})") from exc
    try:
        return (*_from_pretrained(model_id, local_files_only=True), None)
    except (OSError, ValueError):
        pass
    if _offline():
        raise _unavailable(model_id, "it is not in the local Hugging Face cache and offline mode is on")
    _probe_hub(model_id)
    try:
        return (*_from_pretrained(model_id, local_files_only=False), None)
    except OSError as exc:
        raise _unavailable(model_id, f"download from the hub failed ({exc})") from exc


def _probe_hub(model_id: str) -> None:
    import huggingface_hub.constants as hub
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi(endpoint=hub.ENDPOINT).model_info(model_id, timeout=HUB_PROBE_TIMEOUT_S)
    except RepositoryNotFoundError as exc:
        raise _unavailable(model_id, "it is not in the local cache and the hub has no such (accessible) model") from exc
    except Exception as exc:
        reason = f"it is not in the local cache and the hub at {hub.ENDPOINT} is unreachable ({type(exc).__name__})"
        raise _unavailable(model_id, reason) from exc


def _model_version(model_id: str, folder: Path | None) -> str:
    """Hub snapshot commit for cached hub models, else a content hash of config and weights."""
    if folder is None:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_id, "config.json")
        if isinstance(cached, str):
            return Path(cached).parent.name[:12]
        return hashlib.sha256(model_id.encode()).hexdigest()[:12]
    digest = hashlib.sha256()
    files = [folder / "config.json"] + sorted(p for p in folder.iterdir() if p.name.endswith(_WEIGHT_SUFFIXES))
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:12]
