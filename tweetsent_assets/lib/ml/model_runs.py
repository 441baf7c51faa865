"""Reading and writing the MLflow runs the model assets share: candidates, evaluations, decisions."""
from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
from functools import lru_cache
from importlib.metadata import version as package_version
from pathlib import Path

import pandas as pd

from .models.types import ModelSpec
from .promotion import Candidate

EVALUATION_EXPERIMENT = "tweetsent-evaluations"
FINETUNE_EXPERIMENT = "tweetsent-finetune"
DECISION_EXPERIMENT = "tweetsent-champion"
DRIFT_BASELINE_ARTIFACT = "drift_baseline.json"


def candidate_spec(candidate: dict, local_dir: str) -> ModelSpec:
    """What to load for a configured candidate: `vader`, `hf` (id or path), `finetuned` or `stack` (output folder).

    `quantize: true` makes an int8 (dynamic quantization) variant, evaluated as a candidate of its own.
    """
    name, kind = candidate["name"], candidate["kind"]
    if kind == "vader":
        return ModelSpec(kind="vader", model=None, name=name)
    if kind == "hf":
        return ModelSpec(kind="hf", model=candidate["model"], name=name, max_length=candidate.get("max_length", 128),
                         quantize=candidate.get("quantize", False))
    if kind == "stack":
        return ModelSpec(kind="stack", model=local_dir, name=name, quantize=candidate.get("quantize", False))
    if kind == "finetuned":
        return ModelSpec(kind="hf", model=local_dir, name=name, max_length=candidate.get("max_length", 64),
                         quantize=candidate.get("quantize", False))
    raise ValueError(f"candidate {name!r} has unknown kind {kind!r}; expected vader, hf, finetuned or stack")


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version plus the git commit when running from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "nogit"
    return f"{package_version('tweetsent')}+{commit}"


def mlflow_metric(key: str, value: float):
    """An MLflow Metric stamped now, for client.log_batch."""
    from mlflow.entities import Metric

    return Metric(key, float(value), int(time.time() * 1000), 0)


def png_markdown(path: Path) -> str:
    """Markdown that shows a PNG inline in the Dagster UI (a data: URI, so no file server is needed)."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![{Path(path).stem}](data:image/png;base64,{encoded})"


def latest_run(client, experiment_id: str, filter_string: str = ""):
    runs = client.search_runs([experiment_id], filter_string=filter_string, order_by=["attributes.start_time DESC"],
                              max_results=1)
    return runs[0] if runs else None


def load_candidates(client, experiment_id: str, names: list[str], dataset_version: int) -> tuple[list[Candidate], list[str]]:
    """Each candidate's latest evaluation on `dataset_version`, with its per-example predictions.

    Returns the candidates and the shared eval labels; evaluations on an older dataset version or
    on different examples count as unavailable, so the paired bootstrap compares like with like.
    """
    candidates, labels = [], None
    for name in names:
        run = latest_run(client, experiment_id, f"tags.candidate = '{name}'")
        if run is None:
            candidates.append(Candidate.unavailable(name, None, "not evaluated yet"))
            continue
        tags = run.data.tags
        version = tags.get("registered_version")
        if tags.get("dataset_version") != str(dataset_version):
            candidates.append(Candidate.unavailable(
                name, version, f"last evaluated on dataset version {tags.get('dataset_version')}, "
                               f"current is {dataset_version}"))
        elif tags.get("available") != "true" or version is None:
            candidates.append(Candidate.unavailable(name, None, tags.get("unavailable_reason", "evaluation incomplete")))
        else:
            predictions = _predictions(client, run.info.run_id)
            if labels is None:
                labels = list(predictions["label"])
            if list(predictions["label"]) != labels:
                candidates.append(Candidate.unavailable(name, version, "evaluated on different examples"))
                continue
            candidates.append(Candidate(
                name=name, version=version, available=True, metrics=dict(run.data.metrics),
                predictions=predictions["predicted"].to_numpy(),
                tweets_per_s=float(run.data.metrics.get("tweets_per_s", 0.0))))
    return candidates, labels or []


def latest_decision(client, experiment_id: str) -> dict | None:
    """Tags of the most recent champion decision run (promote, winner, winner_version, reason)."""
    run = latest_run(client, experiment_id)
    return None if run is None else dict(run.data.tags)


def drift_baseline(client, experiment_id: str, version: str) -> tuple[str, dict] | None:
    """The run that evaluated registered `version` and the drift baseline it logged; None if it logged none."""
    from mlflow.exceptions import MlflowException

    run = latest_run(client, experiment_id, f"tags.registered_version = '{version}'")
    if run is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = client.download_artifacts(run.info.run_id, DRIFT_BASELINE_ARTIFACT, scratch)
        except (OSError, MlflowException):
            return None
        return run.info.run_id, json.loads(Path(path).read_text())


def _predictions(client, run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as scratch:
        path = client.download_artifacts(run_id, "predictions.csv", scratch)
        return pd.read_csv(path, keep_default_na=False)
