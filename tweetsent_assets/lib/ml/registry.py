"""Model registry operations on tweet-sentiment: log and register versions, move champion aliases.

Everything goes through the MlflowClient passed in (never mlflow's global tracking URI), so one
process can serve several stores. Stages are deprecated; only aliases are used.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from .models.pyfunc import save_pyfunc
from .models.types import ModelSpec
from .promotion import Decision

REGISTERED_MODEL = "tweet-sentiment"
CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous-champion"
LOGGED_MODEL_NAME = "sentiment-model"


def log_model(client: MlflowClient, run_id: str, spec: ModelSpec, hf_model_dir: str | Path | None = None):
    """Log `spec` as a pyfunc model of run `run_id`; returns the LoggedModel.

    This is what mlflow.pyfunc.log_model does, spelled out with the given client: log_model uses
    the global tracking URI, which a process serving several stores must not depend on.
    """
    run = client.get_run(run_id)
    logged = client.create_logged_model(
        run.info.experiment_id, name=LOGGED_MODEL_NAME, source_run_id=run_id,
        tags={"candidate": spec.name, "kind": spec.kind},
    )
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    meta = Model(
        artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id, model_id=logged.model_id,
    )
    with tempfile.TemporaryDirectory() as scratch:
        local = save_pyfunc(Path(scratch) / "model", spec, hf_model_dir=hf_model_dir, mlflow_model=meta)
        client.log_model_artifacts(logged.model_id, str(local))
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged


def log_and_register(
    client: MlflowClient, run_id: str, spec: ModelSpec, hf_model_dir: str | Path | None = None,
    registered_name: str = REGISTERED_MODEL,
) -> str:
    """Log `spec` in run `run_id` and register it as a new version of `registered_name`; returns the version.

    The version's source is the logged model's artifact location: the sqlalchemy registry resolves
    `models:/<model_id>` sources through the global tracking URI.
    """
    logged = log_model(client, run_id, spec, hf_model_dir)
    ensure_registered_model(client, registered_name)
    version = client.create_model_version(
        registered_name, source=logged.artifact_location, run_id=run_id,
        tags={"candidate": spec.name, "kind": spec.kind}, model_id=logged.model_id,
    )
    return str(version.version)


def describe_version(client: MlflowClient, version: str, description: str, name: str = REGISTERED_MODEL) -> None:
    """Set registered `version`'s description (its model card, shown on the version's page in MLflow's UI)."""
    client.update_model_version(name, str(version), description=description)


def get_alias_version(client: MlflowClient, alias: str, name: str = REGISTERED_MODEL) -> str | None:
    """The version `alias` points at, or None when the alias (or the registered model) does not exist."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def promote(client: MlflowClient, version: str, name: str = REGISTERED_MODEL) -> None:
    """Point `champion` at `version`; the replaced champion (if different) becomes `previous-champion`."""
    old = get_alias_version(client, CHAMPION, name)
    client.set_registered_model_alias(name, CHAMPION, str(version))
    if old is not None and old != str(version):
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, old)


def rollback(client: MlflowClient, name: str = REGISTERED_MODEL) -> str:
    """Swap `champion` and `previous-champion` back; returns the restored champion version."""
    current = get_alias_version(client, CHAMPION, name)
    previous = get_alias_version(client, PREVIOUS_CHAMPION, name)
    if previous is None:
        raise ValueError(f"registered model {name!r} has no {PREVIOUS_CHAMPION!r} alias to roll back to")
    client.set_registered_model_alias(name, CHAMPION, previous)
    if current is not None and current != previous:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, current)
    return previous


def apply_decision(client: MlflowClient, decision: Decision, name: str = REGISTERED_MODEL) -> str | None:
    """Move the aliases if `decision` promotes a registered version; returns the champion version after."""
    if decision.promote and decision.winner is not None:
        if decision.winner.version is None:
            raise ValueError(f"cannot promote {decision.winner.name!r}: it has no registered version")
        promote(client, decision.winner.version, name)
    return get_alias_version(client, CHAMPION, name)


def champion_uri(client: MlflowClient, name: str = REGISTERED_MODEL) -> str | None:
    """The champion as a pinned URI models:/<name>/<version> (stable while aliases move), or None."""
    version = get_alias_version(client, CHAMPION, name)
    return None if version is None else f"models:/{name}/{version}"


def version_spec(client: MlflowClient, version: str, tracking_uri: str, name: str = REGISTERED_MODEL) -> ModelSpec:
    """A picklable spec that loads registered `version` (named after the candidate it came from)."""
    tags = client.get_model_version(name, str(version)).tags
    return ModelSpec(kind="mlflow", model=f"models:/{name}/{version}", name=tags.get("candidate", name),
                     version=str(version), tracking_uri=tracking_uri)


def champion_spec(client: MlflowClient, tracking_uri: str, name: str = REGISTERED_MODEL) -> ModelSpec | None:
    """The current champion's spec, pinned to its version, or None when no champion exists."""
    version = get_alias_version(client, CHAMPION, name)
    return None if version is None else version_spec(client, version, tracking_uri, name)


def ensure_registered_model(client: MlflowClient, name: str) -> None:
    """Create registered model `name` unless it exists."""
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
