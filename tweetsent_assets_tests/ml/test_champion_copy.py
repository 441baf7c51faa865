"""Copying the champion between two registries: model, evaluation run, renumbered baseline, alias; once only."""
from __future__ import annotations

import pytest
from mlflow import MlflowClient

from tweetsent_assets.lib.ml.champion_copy import SOURCE_TAG, SOURCE_VERSION_TAG, copy_champion
from tweetsent_assets.lib.ml.model_runs import EVALUATION_EXPERIMENT, drift_baseline
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.registry import (
    CHAMPION,
    PREVIOUS_CHAMPION,
    REGISTERED_MODEL,
    champion_spec,
    get_alias_version,
    promote,
)
from tweetsent_assets_tests.registries import VADER, evaluated_version, registry_with_champion
from tweetsent_assets_tests.tiny_models import TEXTS


@pytest.fixture
def registries(tmp_path):
    source_uri, source = registry_with_champion(tmp_path / "local", versions=2)
    target_uri = f"sqlite:///{tmp_path / 'topology.db'}"
    clear_model_cache()
    yield source, MlflowClient(tracking_uri=target_uri, registry_uri=target_uri), target_uri, tmp_path / "target-art"
    clear_model_cache()


def test_copy_brings_model_evaluation_and_alias(registries):
    source, target, target_uri, artifacts = registries
    copy = copy_champion(source, target, str(artifacts))
    assert (copy.source_version, copy.target_version, copy.copied, copy.candidate) == ("2", "1", True, "vader")
    assert get_alias_version(target, CHAMPION) == "1"

    original, copied = source.get_model_version(REGISTERED_MODEL, "2"), target.get_model_version(REGISTERED_MODEL, "1")
    key = original.model_id or f"{original.run_id}/2"
    assert copied.tags == {"candidate": "vader", "kind": "vader", SOURCE_TAG: key, SOURCE_VERSION_TAG: "2"}
    assert copied.source.startswith(artifacts.as_uri() + f"/{EVALUATION_EXPERIMENT}/models/")
    run = target.get_run(copied.run_id)
    assert run.data.metrics == {"macro_f1": 0.51} and run.data.params == {"eval_rows": "4"}
    assert {k: run.data.tags[k] for k in ("candidate", "dataset_version", "available", "registered_version")} == {
        "candidate": "vader", "dataset_version": "3", "available": "true", "registered_version": "1"}
    assert run.info.run_name == "eval-vader" and run.info.status == "FINISHED"
    assert sorted(a.path for a in target.list_artifacts(copied.run_id)) == ["drift_baseline.json", "predictions.csv"]
    run_id, baseline = drift_baseline(target, run.info.experiment_id, "1")
    assert run_id == copied.run_id and baseline == {"model_version": "1", "stats": {"f1": 0.51}}

    spec = champion_spec(target, target_uri)
    assert (spec.model, spec.version, spec.name) == ("models:/tweet-sentiment/1", "1", "vader")
    scored = load_model(spec).predict(TEXTS)
    assert scored.labels == load_model(VADER).predict(TEXTS).labels and len(scored.labels) == len(TEXTS)


def test_copying_again_adds_nothing_and_a_new_champion_follows(registries):
    source, target, _, artifacts = registries
    first = copy_champion(source, target, str(artifacts))
    again = copy_champion(source, target, str(artifacts))
    assert (again.target_version, again.copied) == (first.target_version, False)
    assert len(target.search_model_versions(f"name = '{REGISTERED_MODEL}'")) == 1
    assert len(target.search_runs([target.get_experiment_by_name(EVALUATION_EXPERIMENT).experiment_id])) == 1

    promote(source, evaluated_version(source, source.get_experiment_by_name(EVALUATION_EXPERIMENT).experiment_id, 0.7))
    newer = copy_champion(source, target, str(artifacts))
    assert (newer.source_version, newer.target_version, newer.copied) == ("3", "2", True)
    assert (get_alias_version(target, CHAMPION), get_alias_version(target, PREVIOUS_CHAMPION)) == ("2", "1")

    promote(source, "2")
    back = copy_champion(source, target, str(artifacts))
    assert (back.target_version, back.copied) == ("1", False)
    assert (get_alias_version(target, CHAMPION), get_alias_version(target, PREVIOUS_CHAMPION)) == ("1", "2")


def test_a_registry_without_champion_copies_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    empty = MlflowClient(tracking_uri=uri, registry_uri=uri)
    target_uri = f"sqlite:///{tmp_path / 'target.db'}"
    target = MlflowClient(tracking_uri=target_uri, registry_uri=target_uri)
    assert copy_champion(empty, target, str(tmp_path / "art")) is None
    assert target.search_model_versions(f"name = '{REGISTERED_MODEL}'") == []
