"""Per-candidate evaluations: each candidate scored on the eval split in its own MLflow run, then registered."""
import os
import tempfile
from pathlib import Path
from typing import Optional

import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ... import settings
from ...lib.ingest.text_cleaning import clean_text
from ...lib.ml.model_runs import (DRIFT_BASELINE_ARTIFACT, EVALUATION_EXPERIMENT, candidate_spec, code_version,
                                  mlflow_metric, png_markdown)
from ...lib.ml.models.loader import load_model
from ...lib.ml.models.types import DEFAULT_BATCH_SIZE
from ...lib.ml.normalise import text_hash
from ...lib.ml.model_card import folder_size_bytes, model_card, read_card
from ...lib.ml.stack_folder import oof_file, read_recipe
from ..resources import LakeResource, MlflowResource
from ..timing import stopwatch
from .candidates import CANDIDATES, candidate_partitions
from .labeled import labeled_frame, labeled_tweets
from .training import finetuned_sentiment_model


TRAINED_KINDS = ("finetuned", "stack")


class EvaluationConfig(Config):
    batch_size: int = DEFAULT_BATCH_SIZE
    max_examples: Optional[int] = Field(default=None, description="Evaluate on the first N eval rows only")


@asset(
    deps=[labeled_tweets, finetuned_sentiment_model],
    partitions_def=candidate_partitions,
    group_name="ml",
    kinds={"mlflow", "pytorch"},
    automation_condition=AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()),
)


def model_evaluations(context: AssetExecutionContext, config: EvaluationConfig, lake: LakeResource,
                      mlflow: MlflowResource) -> MaterializeResult:
    """Evaluates one candidate on the eval split in its own MLflow run and registers it as a version.

    A candidate that cannot load (offline hub id, not trained yet) is recorded as unavailable.
    """
    from ...lib.ml.evaluation import confusion_matrix_png, evaluate
    from ...lib.ml.registry import describe_version, log_and_register

    candidate = CANDIDATES[context.partition_key]
    labeled, dataset_version = labeled_frame(lake)
    eval_rows = labeled[labeled.split == "eval"].head(config.max_examples or len(labeled))
    client = mlflow.client()
    run = client.create_run(mlflow.experiment_id(EVALUATION_EXPERIMENT), run_name=f"eval-{candidate['name']}",
                            tags={"candidate": candidate["name"], "kind": candidate["kind"],
                                  "dataset_version": str(dataset_version)})
    run_id = run.info.run_id
    model_dir = Path(settings.MODELS_DIR).resolve() / candidate.get("from", candidate["name"])
    spec = candidate_spec(candidate, str(model_dir))
    for key, value in {"model": spec.model or spec.kind, "kind": candidate["kind"], "dataset_version": dataset_version,
                       "code_version": code_version(), "eval_rows": len(eval_rows)}.items():
        client.log_param(run_id, key, value)
    try:
        model = load_model(spec)
    except Exception as exc:
        return _unavailable(context, client, run_id, candidate["name"], f"{type(exc).__name__}: {exc}",
                            dataset_version)
    eval_hashes = [text_hash(t) for t in eval_rows.text]
    cross_fitted = spec.kind == "stack" and (model_dir / oof_file(spec.quantize)).is_file()
    honest = _out_of_fold(spec, eval_hashes) if cross_fitted else None
    if isinstance(honest, str):
        return _unavailable(context, client, run_id, candidate["name"], honest, dataset_version)
    trained = candidate["kind"] in TRAINED_KINDS
    unseen = _leak_check(model_dir, eval_hashes) if trained and not cross_fitted else None
    if isinstance(unseen, str):
        return _unavailable(context, client, run_id, candidate["name"], unseen, dataset_version)
    if spec.kind == "stack":
        for key, value in read_recipe(spec.model).items():
            client.log_param(run_id, f"recipe_{key}", str(value)[:6000])
    if trained:
        client.set_tag(run_id, "evaluation", "out-of-fold" if cross_fitted else "held-out")
    with stopwatch() as timer:
        result = evaluate(model, [clean_text(t) for t in eval_rows.text], list(eval_rows.label), config.batch_size,
                          probabilities=honest)
    metrics = result.metrics()
    if trained:
        metrics["eval_texts_seen_in_training"] = 0.0
    client.log_batch(run_id, metrics=[mlflow_metric(k, v) for k, v in metrics.items()])
    with tempfile.TemporaryDirectory() as scratch:
        png = confusion_matrix_png(result, Path(scratch, "confusion_matrix.png"), f"{candidate['name']} on eval")
        predictions = Path(scratch, "predictions.csv")
        result.predictions.to_csv(predictions, index=False)
        client.log_artifact(run_id, str(png))
        client.log_artifact(run_id, str(predictions))
        confusion_md = png_markdown(png)
    hf_dir = spec.model if spec.kind in ("hf", "stack") and spec.model and os.path.isdir(spec.model) else None
    version = log_and_register(client, run_id, spec, hf_model_dir=hf_dir)
    card = model_card(candidate["name"], candidate["kind"], metrics, read_card(model_dir),
                      evaluation="out of fold" if cross_fitted else "held out" if trained else "plain",
                      eval_set=_eval_set(eval_rows), size_bytes=folder_size_bytes(model_dir if trained else hf_dir),
                      quantized=bool(spec.quantize))
    describe_version(client, version, card)
    client.log_dict(run_id, _drift_baseline(version, eval_rows, result.predictions), DRIFT_BASELINE_ARTIFACT)
    client.set_tag(run_id, "available", "true")
    client.set_tag(run_id, "registered_version", version)
    client.set_terminated(run_id, "FINISHED")
    return MaterializeResult(metadata={
        "available": True, "registered_version": version, "mlflow_run_id": run_id, "dataset_version": dataset_version,
        **{k: round(float(v), 4) for k, v in metrics.items()}, "duration_s": timer["seconds"],
        "confusion_matrix": MetadataValue.md(confusion_md),
    })


def _drift_baseline(version: str, eval_rows: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """The drift baseline of this version: its predictions and the texts' features on the eval tweets."""
    from ...lib.insights.drift import Baseline, scored_tweets

    tweets = scored_tweets(eval_rows.text, predictions["predicted"], predictions["score"], cleaned=predictions["text"])
    return Baseline.of(version, tweets).to_dict()


def _out_of_fold(spec, eval_hashes: list[str]):
    """A cross-fitted model's out-of-fold probabilities for the eval rows, or why there are none."""
    from ...lib.ml.stack_folder import out_of_fold_probabilities

    try:
        return out_of_fold_probabilities(spec.model, eval_hashes, spec.quantize)
    except (OSError, ValueError, KeyError) as exc:
        return f"no honest evaluation: {exc}"


def _leak_check(model_dir: Path, eval_hashes: list[str]) -> Optional[str]:
    """Why a model trained here cannot be evaluated on the eval rows (some were training texts), or None."""
    from ...lib.ml.leakage import eval_texts_seen

    try:
        seen = eval_texts_seen(model_dir, eval_hashes)
    except (OSError, ValueError) as exc:
        return f"no honest evaluation: {exc}"
    return f"no honest evaluation: {seen} eval texts were in its training data" if seen else None


def _eval_set(eval_rows: pd.DataFrame) -> str:
    """The eval rows' sources by file name, e.g. `tweeteval_sentiment`."""
    return ", ".join(sorted({Path(str(source)).name for source in eval_rows.source}))


def _unavailable(context: AssetExecutionContext, client, run_id: str, name: str, reason: str,
                 dataset_version: int) -> MaterializeResult:
    client.set_tag(run_id, "available", "false")
    client.set_tag(run_id, "unavailable_reason", reason[:5000])
    client.set_terminated(run_id, "FINISHED")
    context.log.warning(f"candidate {name} unavailable: {reason}")
    return MaterializeResult(metadata={"available": False, "reason": reason, "mlflow_run_id": run_id,
                                       "dataset_version": dataset_version})
