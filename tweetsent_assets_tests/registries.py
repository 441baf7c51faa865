"""A registry with a champion, shaped as model_evaluations leaves it: an evaluation run per version, with its files."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from tweetsent_assets.lib.ml.model_runs import DRIFT_BASELINE_ARTIFACT, EVALUATION_EXPERIMENT
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.registry import log_and_register, promote

VADER = ModelSpec(kind="vader", model=None, name="vader")


def evaluated_version(client: MlflowClient, experiment: str, f1: float, spec: ModelSpec = VADER) -> str:
    """One evaluation run (tags, params, a metric, predictions, a drift baseline) and its registered version."""
    run_id = client.create_run(experiment, run_name=f"eval-{spec.name}",
                               tags={"candidate": spec.name, "kind": spec.kind, "dataset_version": "3"}).info.run_id
    client.log_param(run_id, "eval_rows", "4")
    client.log_metric(run_id, "macro_f1", f1)
    client.log_text(run_id, pd.DataFrame({"text": ["a", "b"], "label": ["positive", "negative"],
                                          "predicted": ["positive", "neutral"]}).to_csv(index=False), "predictions.csv")
    version = log_and_register(client, run_id, spec)
    client.log_dict(run_id, {"model_version": version, "stats": {"f1": f1}}, DRIFT_BASELINE_ARTIFACT)
    client.set_tag(run_id, "available", "true")
    client.set_tag(run_id, "registered_version", version)
    client.set_terminated(run_id, "FINISHED")
    return version


def registry_with_champion(root: Path, versions: int = 2) -> tuple[str, MlflowClient]:
    """A sqlite registry under `root` whose last of `versions` evaluated versions is the champion."""
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment(EVALUATION_EXPERIMENT,
                                          artifact_location=(root / "artifacts" / EVALUATION_EXPERIMENT).as_uri())
    for i in range(versions):
        promote(client, evaluated_version(client, experiment, 0.5 + i / 100))
    return uri, client
