"""MLflow pyfunc packaging of tweetsent models, and loading pinned registry versions (kind "mlflow").

A logged model holds the ModelSpec as JSON plus, for Hugging Face models, the saved model folder,
so any process with the tweetsent package can rebuild the exact model from the registry.
"""
from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import threading
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path
from typing import Any, Mapping

import mlflow.pyfunc
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, Schema

from .labels import LABELS
from .model import ModelSpec, ModelUnavailableError, Predictions, SentimentModel, _build, load_model

SPEC_ARTIFACT = "spec"
MODEL_DIR_ARTIFACT = "model_dir"
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
_FOLDER_KINDS = {"hf": "config.json", "stack": "stack.json"}
_DOWNLOAD_LOCK = threading.Lock()
_downloads: tuple[int, Path, dict[str, Path]] | None = None


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


def spec_from_artifacts(
    artifacts: Mapping[str, str], name: str | None = None, version: str | None = None,
) -> ModelSpec:
    """The inner ModelSpec saved in a logged model, pointed at its downloaded HF folder."""
    payload = json.loads(Path(artifacts[SPEC_ARTIFACT]).read_text())
    if payload["kind"] in _FOLDER_KINDS:
        payload["model"] = artifacts[MODEL_DIR_ARTIFACT]
    if name:
        payload["name"] = name
    if version:
        payload["version"] = version
    return ModelSpec(**payload)


def save_pyfunc(
    path: str | Path, spec: ModelSpec, hf_model_dir: str | Path | None = None, mlflow_model: Model | None = None,
) -> Path:
    """Save `spec` (and its HF or stack folder) as a pyfunc model folder at `path`; no tracking server involved."""
    if spec.kind not in _REQUIREMENTS:
        raise ValueError(f"only vader, hf and stack models can be packaged, got kind {spec.kind!r}")
    model_dir = Path(hf_model_dir or spec.model or "") if spec.kind in _FOLDER_KINDS else None
    if model_dir is not None and not (model_dir / _FOLDER_KINDS[spec.kind]).is_file():
        raise ValueError(f"{spec.kind} models need a local folder with {_FOLDER_KINDS[spec.kind]}, "
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


def load_registered_model(spec: ModelSpec) -> SentimentModel:
    """Download the pinned `spec.model` into this process's cache and build the model it holds.

    Called by load_model (under its lock), so it builds the inner model directly, not via load_model.
    """
    folder = download_model(spec.model, spec.tracking_uri)
    flavor = Model.load(str(folder)).flavors.get("python_function", {})
    artifacts = {k: str(folder / v["path"]) for k, v in flavor.get("artifacts", {}).items()}
    if SPEC_ARTIFACT not in artifacts:
        raise ModelUnavailableError(f"{spec.model} is not a tweetsent sentiment model (no spec artifact)")
    return _build(spec_from_artifacts(artifacts, name=spec.name, version=spec.version or spec.model))


def download_model(model_uri: str, tracking_uri: str | None) -> Path:
    """Local copy of `model_uri`'s files, downloaded once per process into a process-private folder.

    The version is resolved with an explicit MlflowClient: mlflow's own models:/ artifact repository
    resolves names against the global registry URI even when one is passed in. A postgresql:// store
    that does not answer fails within seconds instead of MLflow's minutes of retries.
    """
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    from ..cluster.postgres import store_uri

    name, version = model_uri.removeprefix("models:/").split("/")
    key = hashlib.sha256(f"{tracking_uri}\n{model_uri}".encode()).hexdigest()[:16]
    with _DOWNLOAD_LOCK:
        root, done = _process_downloads()
        if key in done and (done[key] / "MLmodel").is_file():
            return done[key]
        try:
            uri = store_uri(tracking_uri) if tracking_uri else None
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            source = client.get_model_version_download_uri(name, version)
            local = download_artifacts(artifact_uri=source, dst_path=str(root / key), tracking_uri=uri, registry_uri=uri)
        except (MlflowException, OSError) as exc:
            where = tracking_uri or "the default MLflow store"
            raise ModelUnavailableError(f"cannot download {model_uri} from {where}: {exc}") from exc
        done[key] = Path(local)
        return done[key]


def _process_downloads() -> tuple[Path, dict[str, Path]]:
    """This process's download folder and what it holds; a forked child starts its own."""
    global _downloads
    pid = os.getpid()
    if _downloads is None or _downloads[0] != pid:
        root = Path(tempfile.mkdtemp(prefix=f"tweetsent-mlflow-{pid}-"))
        atexit.register(lambda: os.getpid() == pid and shutil.rmtree(root, ignore_errors=True))
        _downloads = (pid, root, {})
    return _downloads[1], _downloads[2]


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
