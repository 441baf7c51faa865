"""Log/register VADER and a tiny HF model in a real MLflow store, load them back, move and roll back aliases."""
from __future__ import annotations

import pickle

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.pyfunc import OUTPUT_COLUMNS
from tweetsent_assets.lib.ml.models.types import ModelSpec, ModelUnavailableError
from tweetsent_assets.lib.ml.registry import (
    CHAMPION,
    PREVIOUS_CHAMPION,
    REGISTERED_MODEL,
    champion_uri,
    get_alias_version,
    log_and_register,
    promote,
    rollback,
)
from tweetsent_assets_tests.tiny_models import TEXTS, build_tiny_roberta

VADER = ModelSpec(kind="vader", model=None, name="vader")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sqlite tracking/registry store with VADER as version 1 and a tiny RoBERTa as version 2."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("registry", artifact_location=str(root / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    tiny = ModelSpec(kind="hf", model=str(build_tiny_roberta(root / "tiny")), name="tiny", batch_size=2)
    versions = [log_and_register(client, run_id, VADER), log_and_register(client, run_id, tiny)]
    clear_model_cache()
    yield client, uri, versions, {"1": VADER, "2": tiny}
    clear_model_cache()


def test_versions_and_tags(store):
    client, _, versions, _ = store
    assert versions == ["1", "2"]
    version = client.get_model_version(REGISTERED_MODEL, "2")
    assert version.tags == {"candidate": "tiny", "kind": "hf"}
    assert version.status == "READY"
    assert client.get_run(version.run_id).outputs.model_outputs


@pytest.mark.parametrize("version", ["1", "2"])
def test_load_through_spec_matches_original(store, version):
    _, uri, _, specs = store
    original = load_model(specs[version]).predict(TEXTS)
    spec = ModelSpec(kind="mlflow", model=f"models:/{REGISTERED_MODEL}/{version}", name="champion", tracking_uri=uri)
    loaded = load_model(spec)
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert (loaded.name, loaded.version) == ("champion", f"models:/{REGISTERED_MODEL}/{version}")
    again = loaded.predict(TEXTS)
    assert again.labels == original.labels
    np.testing.assert_allclose(again.probabilities, original.probabilities, atol=1e-5)
    np.testing.assert_allclose(again.scores, original.scores, atol=1e-5)


@pytest.mark.parametrize("version", ["1", "2"])
def test_load_through_pyfunc_matches_original(store, version, monkeypatch):
    _, uri, _, specs = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    original = load_model(specs[version]).predict(TEXTS)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version}")
    frame = pyfunc.predict(pd.DataFrame({"text": TEXTS}))
    assert tuple(frame.columns) == OUTPUT_COLUMNS
    assert frame["label"].tolist() == original.labels
    probabilities = frame[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    np.testing.assert_allclose(probabilities, original.probabilities, atol=1e-5)
    from_list = pyfunc.predict(TEXTS)
    assert from_list["label"].tolist() == original.labels


def test_unknown_version_is_unavailable(store):
    _, uri, _, _ = store
    with pytest.raises(ModelUnavailableError, match="models:/tweet-sentiment/99"):
        load_model(ModelSpec(kind="mlflow", model="models:/tweet-sentiment/99", name="x", tracking_uri=uri))


def test_mlflow_kind_needs_pinned_uri():
    with pytest.raises(ValueError, match="pinned"):
        ModelSpec(kind="mlflow", model="models:/tweet-sentiment@champion", name="x")


def test_promote_and_rollback(store):
    client, *_ = store
    assert champion_uri(client) is None and get_alias_version(client, CHAMPION) is None
    promote(client, "1")
    assert champion_uri(client) == "models:/tweet-sentiment/1"
    assert get_alias_version(client, PREVIOUS_CHAMPION) is None
    promote(client, "2")
    assert (get_alias_version(client, CHAMPION), get_alias_version(client, PREVIOUS_CHAMPION)) == ("2", "1")
    promote(client, "2")
    assert get_alias_version(client, PREVIOUS_CHAMPION) == "1"
    assert rollback(client) == "1"
    assert (get_alias_version(client, CHAMPION), get_alias_version(client, PREVIOUS_CHAMPION)) == ("1", "2")
    assert champion_uri(client) == "models:/tweet-sentiment/1"
    assert get_alias_version(client, CHAMPION, name="no-such-model") is None


def test_fresh_process_downloads_its_own_copy(store, tmp_path):
    """What a Spark executor does: only the pickled spec crosses; the worker resolves and downloads."""
    import subprocess
    import sys

    _, uri, _, _ = store
    spec = ModelSpec(kind="mlflow", model=f"models:/{REGISTERED_MODEL}/1", name="champion", tracking_uri=uri)
    (tmp_path / "spec.pkl").write_bytes(pickle.dumps(spec))
    script = (
        "import os, pickle, sys\n"
        "from tweetsent_assets.lib.ml.models.loader import load_model\n"
        "from tweetsent_assets.lib.ml.models import registered\n"
        "model = load_model(pickle.load(open(sys.argv[1], 'rb')))\n"
        "print(','.join(model.predict(sys.argv[2:]).labels))\n"
        "print(registered._downloads[0] == os.getpid(), f'-{os.getpid()}-' in str(registered._downloads[1]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "spec.pkl"), *TEXTS[:3]],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.split("\n")
    assert out[0] == ",".join(load_model(VADER).predict(TEXTS[:3]).labels)
    assert out[1] == "True True"
