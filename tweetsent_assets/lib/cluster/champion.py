"""Bring a registry's champion (by default the local one) into the topology's MLflow registry and artifact store.

Without it the topology's registry on PostgreSQL starts empty and gold scores with VADER until a
champion is trained there; with it gold scores with the local champion from the first batch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .postgres import is_postgres_url, store_uri, with_driver


def _same_store(a: str, b: str) -> bool:
    return (with_driver(a) if is_postgres_url(a) else a) == (with_driver(b) if is_postgres_url(b) else b)


def bring_champion(environment: dict[str, str], source_uri: str, timeout_s: float = 3.0,
                   progress: Callable[[str], None] = print):
    """Copy `source_uri`'s champion into the registry that `environment` (cluster.env) points at.

    Returns the ChampionCopy, or None when there is nothing to copy (no registry file, no champion,
    or the source is the topology's own registry); `progress` says which.
    """
    from mlflow import MlflowClient

    from ..ml.champion_copy import copy_champion

    target_uri = environment["MLFLOW_TRACKING_URI"]
    if _same_store(source_uri, target_uri):
        progress("champion: the source registry is the topology's own; nothing to copy")
        return None
    if source_uri.startswith("sqlite:///") and not Path(source_uri.removeprefix("sqlite:///")).is_file():
        progress(f"champion: no local registry at {source_uri}; gold scores with VADER until a champion exists")
        return None
    os.environ.update(environment)
    source_uri, target_uri = store_uri(source_uri, timeout_s), store_uri(target_uri, timeout_s)
    copy = copy_champion(MlflowClient(tracking_uri=source_uri, registry_uri=source_uri),
                         MlflowClient(tracking_uri=target_uri, registry_uri=target_uri),
                         environment["TWEETSENT_MLFLOW_ARTIFACTS"])
    if copy is None:
        progress(f"champion: {source_uri} has none; gold scores with VADER until a champion exists")
    else:
        verb = "copied as" if copy.copied else "already there as"
        progress(f"champion: {copy.candidate} (source version {copy.source_version}) {verb} version "
                 f"{copy.target_version}, alias champion")
    return copy
