"""MLflow pyfunc packaging of tweetsent models.

A logged model holds the ModelSpec as JSON plus, for Hugging Face models, the saved model folder,
so any process with the tweetsent package can rebuild the exact model from the registry.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, Schema

from .artifacts import FOLDER_KINDS, MODEL_DIR_ARTIFACT, SPEC_ARTIFACT, spec_from_artifacts
from .labels import LABELS
from .loader import load_model
from .types import ModelSpec, Predictions

OUTPUT_COLUMNS = ("label", "score", *(f"p_{label}" for label in LABELS))
# The input column is unnamed so pyfunc accepts a list of str as well as a DataFrame with `text`.
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string")]),
    outputs=Schema([ColSpec("string", "label"), *(ColSpec("double", c) for c in OUTPUT_COLUMNS[1:])]),
)
_REQUIREMENTS = {
    "vader": ("mlflow", "pandas", "numpy", "vaderSentiment"),
    "hf": ("mlflow", "pandas", "numpy", "torch", "transformers", "tokenizers"),
    "stack": ("mlflow", "pandas", "numpy", "torch", "transformers", "tokenizers", "vaderSentiment"),
}


class SentimentPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc over any tweetsent model: a `text` column (or list of str) in, label/score/p_* columns out."""

    def load_context(self, context: Any) -> None:
        self.model = load_model(spec_from_artifacts(context.artifacts))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return predictions_frame(self.model.predict(_texts(model_input)))


def predictions_frame(predictions: Predictions) -> pd.DataFrame:
    """Predictions as a DataFrame with columns OUTPUT_COLUMNS."""
    frame = pd.DataFrame({"label": predictions.labels, "score": predictions.scores})
    for i, label in enumerate(LABELS):
        frame[f"p_{label}"] = predictions.probabilities[:, i]
    return frame


def save_pyfunc(
    path: str | Path, spec: ModelSpec, hf_model_dir: str | Path | None = None, mlflow_model: Model | None = None,
) -> Path:
    """Save `spec` (and its HF or stack folder) as a pyfunc model folder at `path`; no tracking server involved."""
    if spec.kind not in _REQUIREMENTS:
        raise ValueError(f"only vader, hf and stack models can be packaged, got kind {spec.kind!r}")
    model_dir = Path(hf_model_dir or spec.model or "") if spec.kind in FOLDER_KINDS else None
    if model_dir is not None and not (model_dir / FOLDER_KINDS[spec.kind]).is_file():
        raise ValueError(f"{spec.kind} models need a local folder with {FOLDER_KINDS[spec.kind]}, "
                         f"got {str(model_dir)!r}")
    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        spec_file = Path(scratch) / "spec.json"
        payload = dataclasses.asdict(spec) | {"tracking_uri": None}
        spec_file.write_text(json.dumps(payload, indent=2, sort_keys=True))
        artifacts = {SPEC_ARTIFACT: str(spec_file)}
        if model_dir is not None:
            artifacts[MODEL_DIR_ARTIFACT] = str(model_dir)
        mlflow.pyfunc.save_model(
            path=str(path), python_model=SentimentPyfunc(), artifacts=artifacts, signature=SIGNATURE,
            pip_requirements=_requirements(spec.kind), mlflow_model=mlflow_model,
        )
    return path


def _texts(model_input: Any) -> list[str]:
    if isinstance(model_input, pd.DataFrame):
        column = model_input["text"] if "text" in model_input.columns else model_input.iloc[:, 0]
        return column.fillna("").astype(str).tolist()
    if isinstance(model_input, str):
        return [model_input]
    return ["" if t is None else str(t) for t in model_input]


def _requirements(kind: str) -> list[str]:
    pins = []
    for package in _REQUIREMENTS[kind]:
        try:
            pins.append(f"{package}=={package_version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
