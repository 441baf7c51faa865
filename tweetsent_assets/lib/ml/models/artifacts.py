"""What a logged tweetsent model holds: its ModelSpec as JSON and, for folder kinds, the model's folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from .types import ModelSpec

SPEC_ARTIFACT = "spec"
MODEL_DIR_ARTIFACT = "model_dir"
FOLDER_KINDS = {"hf": "config.json", "stack": "stack.json"}


def spec_from_artifacts(
    artifacts: Mapping[str, str], name: str | None = None, version: str | None = None,
) -> ModelSpec:
    """The inner ModelSpec saved in a logged model, pointed at its downloaded HF folder."""
    payload = json.loads(Path(artifacts[SPEC_ARTIFACT]).read_text())
    if payload["kind"] in FOLDER_KINDS:
        payload["model"] = artifacts[MODEL_DIR_ARTIFACT]
    if name:
        payload["name"] = name
    if version:
        payload["version"] = version
    return ModelSpec(**payload)
