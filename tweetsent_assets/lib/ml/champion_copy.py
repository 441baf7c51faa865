"""Copy the champion from one MLflow registry to another: its model, its evaluation run and the alias.

The scale-out topology starts with an empty registry on PostgreSQL; copying the local champion
there lets gold score with the same model from the first batch. The copy is a new version whose
tags name the source model, so copying the same champion again does nothing.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param
from mlflow.models import Model

from .model_runs import DRIFT_BASELINE_ARTIFACT, EVALUATION_EXPERIMENT
from .registry import (
    CHAMPION,
    LOGGED_MODEL_NAME,
    REGISTERED_MODEL,
    ensure_registered_model,
    get_alias_version,
    promote,
)

SOURCE_TAG = "copied_from_model"
SOURCE_VERSION_TAG = "copied_from_version"


@dataclass(frozen=True)
class ChampionCopy:
    """What a copy did: the source champion's version, the target's version, and whether it was new."""

    source_version: str
    target_version: str
    copied: bool
    candidate: str


def copy_champion(source: MlflowClient, target: MlflowClient, artifact_root: str,
                  name: str = REGISTERED_MODEL) -> ChampionCopy | None:
    """Make the source's champion the target's champion; None when the source has none.

    The model's files, the evaluation run (tags, params, metrics, predictions, drift baseline) and
    the version's tags are copied; a champion copied before is only pointed at again, not copied.
    """
    version = get_alias_version(source, CHAMPION, name)
    if version is None:
        return None
    found = source.get_model_version(name, version)
    key = found.model_id or f"{found.run_id}/{version}"
    tags = dict(found.tags)
    earlier = [v for v in target.search_model_versions(f"name = '{name}'") if v.tags.get(SOURCE_TAG) == key]
    if earlier:
        target_version = str(max(int(v.version) for v in earlier))
        if get_alias_version(target, CHAMPION, name) != target_version:
            promote(target, target_version, name)
        return ChampionCopy(version, target_version, False, tags.get("candidate", name))
    experiment = _experiment(target, EVALUATION_EXPERIMENT, artifact_root)
    run = source.get_run(found.run_id) if found.run_id else None
    run_id = target.create_run(experiment, run_name=run.info.run_name if run else f"copy-{name}-{version}",
                               tags=_user_tags(run.data.tags) if run else {}).info.run_id
    if run is not None:
        target.log_batch(run_id, metrics=[Metric(k, v, run.info.start_time or 0, 0) for k, v in run.data.metrics.items()],
                         params=[Param(k, v) for k, v in run.data.params.items()])
    with tempfile.TemporaryDirectory() as scratch:
        model_id, source_uri = _copy_model(source, target, found, experiment, run_id, Path(scratch) / "model")
        ensure_registered_model(target, name)
        target_version = str(target.create_model_version(
            name, source=source_uri, run_id=run_id, model_id=model_id, description=found.description,
            tags={**tags, SOURCE_TAG: key, SOURCE_VERSION_TAG: version}).version)
        if run is not None:
            _copy_run_artifacts(source, target, run.info.run_id, run_id, Path(scratch) / "run", target_version)
    target.set_tag(run_id, "registered_version", target_version)
    target.set_tag(run_id, SOURCE_VERSION_TAG, version)
    target.set_terminated(run_id, "FINISHED")
    promote(target, target_version, name)
    return ChampionCopy(version, target_version, True, tags.get("candidate", name))


def _experiment(client: MlflowClient, name: str, artifact_root: str) -> str:
    """The experiment's id, created with artifacts under `artifact_root`/`name` as MlflowResource does."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = artifact_root if "://" in artifact_root else Path(artifact_root).resolve().as_uri()
    return client.create_experiment(name, artifact_location=f"{root.rstrip('/')}/{name}")


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The run's own tags, without MLflow's bookkeeping and the version number (which the target renumbers)."""
    return {k: v for k, v in tags.items() if not k.startswith("mlflow.") and k != "registered_version"}


def _copy_model(source: MlflowClient, target: MlflowClient, found, experiment: str, run_id: str,
                local: Path) -> tuple[str, str]:
    """Download the version's model files and log them as a new logged model of `run_id`; (model id, its location)."""
    from mlflow.artifacts import download_artifacts

    logged = source.get_logged_model(found.model_id) if found.model_id else None
    location = logged.artifact_location if logged else found.source
    local.mkdir(parents=True)
    local = Path(download_artifacts(artifact_uri=location, dst_path=str(local)))
    tags = dict(logged.tags) if logged else {k: v for k, v in found.tags.items() if k in ("candidate", "kind")}
    copy = target.create_logged_model(experiment, name=logged.name if logged else LOGGED_MODEL_NAME,
                                      source_run_id=run_id, tags=tags)
    target.log_outputs(run_id, [LoggedModelOutput(copy.model_id, step=0)])
    meta = Model.load(str(local))
    meta.run_id, meta.model_id, meta.model_uuid, meta.artifact_path = (run_id, copy.model_id, copy.model_id,
                                                                        copy.artifact_location)
    meta.save(str(local / "MLmodel"))
    target.log_model_artifacts(copy.model_id, str(local))
    target.finalize_logged_model(copy.model_id, LoggedModelStatus.READY)
    return copy.model_id, copy.artifact_location


def _copy_run_artifacts(source: MlflowClient, target: MlflowClient, source_run: str, target_run: str, local: Path,
                        target_version: str) -> None:
    """The evaluation's files (predictions, confusion matrix, drift baseline), the baseline renumbered to the target."""
    local.mkdir(parents=True)
    if not source.list_artifacts(source_run):
        return
    folder = Path(source.download_artifacts(source_run, "", str(local)))
    baseline = folder / DRIFT_BASELINE_ARTIFACT
    if baseline.is_file():
        raw = json.loads(baseline.read_text())
        baseline.write_text(json.dumps({**raw, "model_version": target_version}))
    target.log_artifacts(target_run, str(folder))
