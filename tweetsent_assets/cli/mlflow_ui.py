"""`make mlflow`: MLflow's own UI on 127.0.0.1 over the project's tracking store, registry and artifacts.

Run as `python -m tweetsent_assets.cli.mlflow_ui [--port N]`; the port defaults to
TWEETSENT_MLFLOW_UI_PORT or 5000. Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .. import settings

DEFAULT_PORT = 5000


def ui_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow ui` command line over settings.MLFLOW_TRACKING_URI and settings.MLFLOW_ARTIFACT_ROOT."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.MLFLOW_TRACKING_URI,
            "--default-artifact-root", settings.MLFLOW_ARTIFACT_ROOT, "--host", host, "--port", str(port),
            "--workers", "1"]


def ui_environment(environ: dict) -> dict:
    """The server's environment: without MLflow's job runner (a dozen worker processes this UI does not use)."""
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **environ}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make mlflow", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("TWEETSENT_MLFLOW_UI_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    command = ui_command(args.port)
    print(f"MLflow UI on http://127.0.0.1:{args.port} over {settings.MLFLOW_TRACKING_URI} "
          f"(registered model: http://127.0.0.1:{args.port}/#/models/tweet-sentiment); Ctrl-C stops it", flush=True)
    os.execve(command[0], command, ui_environment(os.environ))


if __name__ == "__main__":
    main()
