"""`make mlflow`: MLflow's own UI over a registry whose champion carries its model card, in a headless Chromium.

The registry is real (SQLite store, a VADER version registered, described with `model_card` and
promoted as the evaluation assets do); the server is `python -m tweetsent_assets.cli.mlflow_ui`,
the command `make mlflow` runs. The browser opens the registered model's page and the version's.
"""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from tweetsent_assets.lib.lake.services import end_process
from tweetsent_assets.lib.ml.model_card import model_card
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.registry import REGISTERED_MODEL, describe_version, log_and_register, promote

from ..dashboard.browser import DevTools, chromium, navigate, needs_chromium, wait_for
from ..support import PROJECT_ROOT, free_port

METRICS = {"macro_recall": 0.6131, "macro_recall_ci_low": 0.5911, "macro_recall_ci_high": 0.6342,
           "recall_negative": 0.7021, "recall_neutral": 0.4473, "recall_positive": 0.6881, "accuracy": 0.5875,
           "macro_f1": 0.5711, "tweets_per_s": 2400.0, "p95_batch_latency_s": 0.012, "n": 2000.0}
CARD = {"roles": {"train": {"rows": 47477, "sources": {"train_text.txt (train)": {
    "negative": 7415, "neutral": 21278, "positive": 18784}}, "texts_sha256": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}},
        "recipe": {"max_epochs": 3}}


def registry(root) -> str:
    """A registry with one VADER version, its model card as description, promoted to champion; returns the URI."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("tweetsent-evaluations", artifact_location=(root / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    version = log_and_register(client, run_id, ModelSpec(kind="vader", model=None, name="vader"))
    describe_version(client, version, model_card("vader", "vader", METRICS, CARD, evaluation="held out",
                                                 eval_set="TweetEval val", size_bytes=1_200_000))
    promote(client, version)
    return uri


def text_with(tools: DevTools, needle: str) -> str | None:
    """The page's text once it contains `needle`, else None."""
    text = tools.evaluate("document.body ? document.body.innerText : ''") or ""
    return text if needle in text else None


@needs_chromium
def test_the_registered_models_page_shows_the_champion_alias_and_the_model_card(tmp_path):
    uri, port = registry(tmp_path), free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TWEETSENT_MLFLOW_ARTIFACTS": str(tmp_path / "artifacts")}
    server = subprocess.Popen([sys.executable, "-m", "tweetsent_assets.cli.mlflow_ui", "--port", str(port)],
                              env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(f"{base}/health", timeout=5).read().strip() == b"OK", 120,
                 "MLflow's /health")
        profile = tmp_path / "chromium"
        profile.mkdir()
        with chromium(profile) as page:
            tools = DevTools(page)
            navigate(tools, f"{base}/#/models/{REGISTERED_MODEL}")
            listing = wait_for(lambda: text_with(tools, "champion"), 60,
                               "the champion alias on the registered model's page")
            assert "Version 1" in listing
            navigate(tools, f"{base}/#/models/{REGISTERED_MODEL}/versions/1")
            version = wait_for(lambda: text_with(tools, "Trained on"), 60, "the model card on the version's page")
    finally:
        end_process(server)
    assert "champion" in version
    assert "47,477 rows" in version and "7,415 negative" in version
    assert "macro recall 0.613 [0.591, 0.634]" in version
    assert "recall per class: negative 0.702, neutral 0.447, positive 0.688" in version
