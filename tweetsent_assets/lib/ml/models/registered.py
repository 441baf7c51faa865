"""Pinned registry versions (kind "mlflow"): downloaded once per process, read back as the spec they hold."""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from mlflow.models import Model

from .artifacts import SPEC_ARTIFACT, spec_from_artifacts
from .types import ModelSpec, ModelUnavailableError

_DOWNLOAD_LOCK = threading.Lock()
_downloads: tuple[int, Path, dict[str, Path]] | None = None


def registered_spec(spec: ModelSpec) -> ModelSpec:
    """Download the pinned `spec.model` into this process's cache; the spec of the model it holds.

    The loader builds that inner spec directly (it calls this under its lock), not via load_model.
    """
    folder = download_model(spec.model, spec.tracking_uri)
    flavor = Model.load(str(folder)).flavors.get("python_function", {})
    artifacts = {k: str(folder / v["path"]) for k, v in flavor.get("artifacts", {}).items()}
    if SPEC_ARTIFACT not in artifacts:
        raise ModelUnavailableError(f"{spec.model} is not a tweetsent sentiment model (no spec artifact)")
    return spec_from_artifacts(artifacts, name=spec.name, version=spec.version or spec.model)


def download_model(model_uri: str, tracking_uri: str | None) -> Path:
    """Local copy of `model_uri`'s files, downloaded once per process into a process-private folder.

    The version is resolved with an explicit MlflowClient: mlflow's own models:/ artifact repository
    resolves names against the global registry URI even when one is passed in. A postgresql:// store
    that does not answer fails within seconds instead of MLflow's minutes of retries.
    """
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    from ...cluster.postgres import store_uri

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
