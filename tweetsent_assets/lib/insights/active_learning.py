"""Active learning: rank gold tweets by how much a label would teach, export them, read labels back.

A tweet is worth labeling when the champion is unsure of it (low top probability) or when the
champion and the runner-up candidate disagree on it (total-variation distance of their
probabilities). Labeled copies of the exported CSV go in `<dir>/labeled/*.csv` and become
labeled sources for the next evaluation.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..ml.labeled_data import LabeledSource
from ..ml.models.labels import LABELS
from ..ml.registry import CHAMPION, REGISTERED_MODEL, get_alias_version
from ..ml.stats import METRICS

QUEUE_COLUMNS = ("rank", "id", "label", "text", "champion_label", "champion_score", "runner_up_label",
                 "runner_up_score", "disagreement", "uncertainty", "priority", "created_at", "user")
CANDIDATE_COLUMNS = ("id", "created_at", "user", "text", "cleaned_text", "label", "score",
                     *(f"p_{label}" for label in LABELS))


def runner_up_version(client, decision: dict | None, name: str = REGISTERED_MODEL) -> str | None:
    """The registered version of the best candidate other than the champion's, by the decision's primary metric.

    `decision` is the latest decision.json ({"table": [...]}); without one, the latest version of
    each other candidate is ranked by the primary metric of the run that registered it.
    """
    champion = get_alias_version(client, CHAMPION, name)
    champion_name = client.get_model_version(name, champion).tags.get("candidate") if champion else None
    rows = (decision or {}).get("table") or _registry_rows(client, name)
    metric = next((m for m in METRICS if any(m in row for row in rows)), None)
    ranked = [row for row in rows if row.get("available") and row.get("version") and metric
              and row.get(metric) is not None and row["name"] != champion_name and str(row["version"]) != champion]
    best = max(ranked, key=lambda row: (row[metric], int(row["version"])), default=None)
    return None if best is None else str(best["version"])


def latest_decision_table(client, experiment_id: str) -> dict | None:
    """The decision.json of the most recent champion decision run, or None when there is none."""
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = client.download_artifacts(runs[0].info.run_id, "decision.json", scratch)
        except Exception:
            return None
        return json.loads(Path(path).read_text())


def _registry_rows(client, name: str) -> list[dict]:
    """Decision-table-like rows from the registry: each candidate's latest version and its run's macro_recall."""
    latest: dict[str, object] = {}
    for version in client.search_model_versions(f"name='{name}'"):
        candidate = version.tags.get("candidate", f"version-{version.version}")
        if candidate not in latest or int(version.version) > int(latest[candidate].version):
            latest[candidate] = version
    rows = []
    for candidate, version in latest.items():
        metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        rows.append({"name": candidate, "version": str(version.version), "available": "macro_recall" in metrics,
                     "macro_recall": metrics.get("macro_recall")})
    return rows


def candidate_rows(gold, least_confident: int, sample: int, seed: int = 0, exclude_ids=()) -> pd.DataFrame:
    """Spark: the `least_confident` lowest-score gold rows plus a hash sample of `sample` others, on the driver.

    Only these rows are re-scored by the champion and the runner-up, never all of gold.
    `exclude_ids` (already labeled) are left out.
    """
    from pyspark.sql import functions as F

    rows = gold.select(*CANDIDATE_COLUMNS)
    excluded = sorted({str(i) for i in exclude_ids})
    if excluded:
        rows = rows.join(gold.sparkSession.createDataFrame([(i,) for i in excluded], "id string"), "id", "left_anti")
    lowest = rows.orderBy("score", "id").limit(least_confident).toPandas()
    others = rows.where(~F.col("id").isin(list(lowest["id"]))) if len(lowest) else rows
    sampled = others.orderBy(F.xxhash64("id", F.lit(seed)), "id").limit(sample).toPandas()
    return pd.concat([lowest, sampled], ignore_index=True)


def rank_queue(rows: pd.DataFrame, champion: np.ndarray, runner_up: np.ndarray | None, size: int,
               disagreement_weight: float = 0.5) -> pd.DataFrame:
    """The `size` rows with the highest priority, best first, with an empty `label` column to fill in.

    uncertainty = (1 - top champion probability) / (2/3), in [0, 1]; disagreement = total-variation
    distance between champion and runner-up probabilities, in [0, 1]; priority mixes them by
    `disagreement_weight` (the runner-up's share is 0 when there is none).
    """
    champion = np.asarray(champion, dtype=float).reshape(-1, len(LABELS))
    uncertainty = (1.0 - champion.max(axis=1)) / (1.0 - 1.0 / len(LABELS))
    frame = rows.assign(champion_label=[LABELS[i] for i in champion.argmax(axis=1)],
                        champion_score=champion.max(axis=1), uncertainty=uncertainty)
    if runner_up is None:
        frame = frame.assign(runner_up_label=None, runner_up_score=np.nan, disagreement=0.0, priority=uncertainty)
    else:
        other = np.asarray(runner_up, dtype=float).reshape(-1, len(LABELS))
        disagreement = 0.5 * np.abs(champion - other).sum(axis=1)
        frame = frame.assign(runner_up_label=[LABELS[i] for i in other.argmax(axis=1)],
                             runner_up_score=other.max(axis=1), disagreement=disagreement,
                             priority=(1 - disagreement_weight) * uncertainty + disagreement_weight * disagreement)
    frame = frame.sort_values(["priority", "id"], ascending=[False, True], kind="stable").head(size)
    frame = frame.assign(rank=np.arange(1, len(frame) + 1), label="")
    return frame[list(QUEUE_COLUMNS)].reset_index(drop=True)


def export_csv(queue: pd.DataFrame, path: str | Path) -> Path:
    """Write the queue as CSV (replaced atomically, so a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    queue.to_csv(scratch, index=False)
    os.replace(scratch, path)
    return path


def labeled_files(folder: str | Path) -> list[Path]:
    """The labeled CSVs dropped in `<folder>/labeled/`, in name order."""
    return sorted(p for p in (Path(folder) / "labeled").glob("*.csv") if p.is_file())


def labeled_sources(folder: str | Path, split: str = "train") -> list[LabeledSource]:
    """Each labeled CSV as a labeled source (columns text and label; rows with a blank label are skipped)."""
    return [LabeledSource(path=str(p.resolve()), split=split, text_column="text", label_column="label")
            for p in labeled_files(folder)]


def labeled_ids(folder: str | Path) -> set[str]:
    """Ids of rows already given a label, so the next queue leaves them out."""
    ids: set[str] = set()
    for path in labeled_files(folder):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if {"id", "label"} <= set(frame.columns):
            ids.update(frame.loc[frame["label"].str.strip() != "", "id"])
    return ids
