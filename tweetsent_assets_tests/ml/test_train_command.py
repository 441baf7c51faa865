"""`tweetsent train`'s config and console lines, and the `make mlflow` command line (no run, no server)."""
from __future__ import annotations

import io
import logging

from tweetsent_assets import settings
from tweetsent_assets.cli.console import Console
from tweetsent_assets.cli.main import build_parser
from tweetsent_assets.cli.mlflow_ui import ui_command, ui_environment
from tweetsent_assets.cli.train import _Milestones, train_config
from tweetsent_assets.defs.models.candidates import TRAINING_LOGGER
from tweetsent_assets.defs.models.training import FinetuneAssetConfig


def test_train_arguments_become_the_assets_config(monkeypatch):
    monkeypatch.delenv("TWEETSENT_TORCH_THREADS", raising=False)
    args = build_parser().parse_args(["train", "--minutes", "20", "--epochs", "2", "--seed", "1"])
    config = train_config(args)
    assert config["time_budget_s"] == 1200 and config["max_epochs"] == 2 and config["seed"] == 1
    assert config["train_size"] is None and config["retrain"] is False and config["torch_threads"] == 2
    assert FinetuneAssetConfig(**config).stack_protocol == "auto"
    default = train_config(build_parser().parse_args(["train"]))
    assert default["time_budget_s"] == 45 * 60 and default["max_epochs"] == 3
    monkeypatch.setenv("TWEETSENT_TORCH_THREADS", "1")
    assert train_config(build_parser().parse_args(["train", "--train-size", "500"]))["torch_threads"] == 1


def test_only_milestones_reach_the_console():
    out = io.StringIO()
    handler = _Milestones(Console(out, io.StringIO(), None))
    log = logging.getLogger(TRAINING_LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("stage 1: step 300 epoch 0.20: loss 0.9", extra={"milestone": False})
        log.info("stage 1: epoch 1/3 done at step 1400", extra={"milestone": True})
        log.info("no marker at all")
    finally:
        log.removeHandler(handler)
    assert out.getvalue() == "  stage 1: epoch 1/3 done at step 1400\n"


def test_mlflow_ui_serves_the_projects_store_on_loopback():
    command = ui_command(5123)
    assert command[1:4] == ["-m", "mlflow", "ui"]
    options = dict(zip(command[4::2], command[5::2]))
    assert options == {"--backend-store-uri": settings.MLFLOW_TRACKING_URI,
                       "--default-artifact-root": settings.MLFLOW_ARTIFACT_ROOT, "--host": "127.0.0.1",
                       "--port": "5123", "--workers": "1"}
    assert ui_environment({"A": "1"}) == {"A": "1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    assert ui_environment({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"})["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"
