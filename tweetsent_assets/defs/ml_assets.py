"""Model assets: labeled tweets, the fine-tuned candidate, per-candidate evaluations, the champion.

MLflow and scikit-learn are imported inside the assets that use them: every run process loads this
module, and a micro-batch run needs neither.
"""
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AutomationCondition,
    Config,
    MaterializeResult,
    MetadataValue,
    StaticPartitionsDefinition,
    asset,
)
from pydantic import Field

from .. import settings
from ..lib.lake import delta_tables
from ..lib.labeled_data import LabeledSource, hold_out, read_labeled
from ..lib.ml.stack_folder import read_recipe
from ..lib.ml.fingerprint import fingerprint, is_current, write_fingerprint
from ..lib.ml.normalise import NORMALISATION, normalise_tweet, text_hash
from ..lib.model_runs import (
    DECISION_EXPERIMENT,
    EVALUATION_EXPERIMENT,
    FINETUNE_EXPERIMENT,
    candidate_spec,
    code_version,
    latest_decision,
    load_candidates,
    png_markdown,
)
from ..lib.promotion import decide
from ..lib.sentiment.model import DEFAULT_BATCH_SIZE, load_model
from ..lib.text_cleaning import clean_text
from .resources import LakeResource, MlflowResource, ObjectStoreResource, SparkResource
from .timing import stopwatch

CANDIDATES = {c["name"]: c for c in settings.candidates()}
# Training progress also goes to this Python logger, so a console (the demo) can show it.
TRAINING_LOGGER = "tweetsent.training"
candidate_partitions = StaticPartitionsDefinition(list(CANDIDATES))


class LabeledSourceConfig(Config):
    path: str = Field(description="Local path or s3:// URL: TweetEval folder, Sentiment140/airline CSV, CSV/JSONL")
    split: str = Field(description="train, val or eval")
    limit: Optional[int] = None
    text_column: str = "text"
    label_column: str = "sentiment"


def _default_sources() -> list[LabeledSourceConfig]:
    base = settings.LABELED_DATA_DIR
    return [
        LabeledSourceConfig(path=f"{base}/tweeteval_sentiment", split="eval"),
        LabeledSourceConfig(path=f"{base}/airline/Tweets.csv", split="train"),
        LabeledSourceConfig(path=f"{base}/sentiment140/sentiment140_sample_20k.csv", split="train"),
    ]


class LabeledTweetsConfig(Config):
    sources: list[LabeledSourceConfig] = Field(default_factory=_default_sources)
    holdout_fraction: float = Field(default=0.1, description="Share of train rows moved to val (early stopping)")
    active_learning_dir: Optional[str] = Field(default=os.path.join(settings.DATA_DIR, "active_learning"),
                                               description="Labeled queue CSVs in <dir>/labeled/*.csv join as train sources")


@asset(group_name="ml", kinds={"spark", "delta"})
def labeled_tweets(context: AssetExecutionContext, config: LabeledTweetsConfig, spark: SparkResource,
                   lake: LakeResource, landing: ObjectStoreResource) -> MaterializeResult:
    """Labeled tweets (text, label, source, split) from the configured sources; evaluations record its version."""
    from ..lib.active_learning import labeled_sources

    rows = []
    sources = [LabeledSource(**s.model_dump()) for s in config.sources] + (
        labeled_sources(config.active_learning_dir) if config.active_learning_dir else [])
    for source in sources:
        found = list(read_labeled(source, endpoint_url=landing.endpoint_url))
        context.log.info(f"{source.path}: {len(found)} labeled rows -> {source.split}")
        rows.extend(found)
    frame = pd.DataFrame(hold_out(rows, config.holdout_fraction), columns=["text", "label", "source", "split"])
    session = spark.session()
    delta_tables.overwrite(session.createDataFrame(frame), lake.path("labeled_tweets"))
    state = delta_tables.describe(session, lake.path("labeled_tweets"))
    counts = frame.groupby(["split", "label"]).size().unstack(fill_value=0)
    return MaterializeResult(metadata={**state.metadata(), "rows_per_split_and_label": MetadataValue.md(counts.to_markdown())})


def _labeled(lake: LakeResource) -> tuple[pd.DataFrame, int]:
    """The labeled table (read without Spark) and its Delta version, rows in a stable order."""
    from deltalake import DeltaTable

    uri, options = delta_tables.delta_rs_location(lake.path("labeled_tweets"))
    table = DeltaTable(uri, storage_options=options)
    frame = table.to_pandas().sort_values(["split", "source", "text", "label"], kind="stable")
    return frame.reset_index(drop=True), table.version()


class FinetuneAssetConfig(Config):
    """Stage 1 (airline + Sentiment140) and stage 2 (cross-fitted on the in-domain eval rows, then stacked).

    The defaults are the long run; `make demo` passes a shorter one.
    """

    base_model: Optional[str] = Field(default=None, description="Encoder path or id; default: the packaged MiniLM")
    train_size: int = 6000
    val_size: int = 1000
    max_epochs: int = 2
    time_budget_s: float = 480.0
    max_length: int = 64
    batch_size: int = 32
    learning_rate: float = 5e-5
    patience: int = 3
    eval_every_steps: Optional[int] = 100
    polar_fraction: float = Field(default=0.5, description=(
        "Share of two-class (Sentiment140) rows whose loss ignores neutral: it has no neutral tweets, so "
        "training them as 3-class teaches that ordinary tweets are never neutral"))
    two_class_weight: float = Field(default=1.0, description="Loss weight of two-class rows (noisy emoticon labels)")
    torch_threads: Optional[int] = None
    crossfit: bool = Field(default=True, description="Train the cross-fitted stack (stage 2) on the eval rows")
    folds: int = 5
    crossfit_epochs: int = 3
    crossfit_learning_rate: float = 5e-5
    crossfit_batch_size: int = 16
    crossfit_base: str = Field(default="pretrained", description="'stage1' (the stage-1 checkpoint) or 'pretrained'")
    stacker_inputs: list[str] = Field(default_factory=lambda: ["transformer", "vader"])
    in_domain_sources: list[str] = Field(default_factory=lambda: ["active_learning"], description=(
        "Train rows whose source path contains one of these join every fold of the stack (never evaluated)"))
    seed: int = 0
    retrain: bool = Field(default=False, description="Train even when the labeled rows and the recipe are unchanged")


@asset(deps=[labeled_tweets], group_name="ml", kinds={"pytorch", "mlflow"})
def finetuned_sentiment_model(context: AssetExecutionContext, config: FinetuneAssetConfig, lake: LakeResource,
                              mlflow: MlflowResource) -> MaterializeResult:
    """Stage 1 fine-tunes on train (early stopping on val); stage 2 cross-fits on eval and stacks with VADER.

    Each stage is skipped, and its saved model reused, when its labeled rows and recipe are unchanged.
    """
    labeled, dataset_version = _labeled(lake)
    in_domain = labeled[labeled.split == "eval"]
    eval_hashes = {text_hash(t) for t in in_domain.text}
    unseen = labeled[[text_hash(t) not in eval_hashes for t in labeled.text]]
    train = unseen[unseen.split == "train"].sample(frac=1.0, random_state=config.seed).head(config.train_size)
    val = unseen[unseen.split == "val"].sample(frac=1.0, random_state=config.seed).head(config.val_size)
    client = mlflow.client()
    stage1 = _stage1(context, config, train, val, client, mlflow, dataset_version)
    metadata = {f"stage1_{k}": v for k, v in stage1.items()}
    if config.crossfit:
        always = unseen[(unseen.split != "eval") & unseen.source.map(
            lambda source: any(part in str(source) for part in config.in_domain_sources))]
        stage2 = _stage2(context, config, in_domain, always, stage1, client, mlflow, dataset_version)
        metadata.update({f"stack_{k}": v for k, v in stage2.items()})
    return MaterializeResult(metadata=metadata)


def _stage1(context: AssetExecutionContext, config: FinetuneAssetConfig, train: pd.DataFrame, val: pd.DataFrame,
            client, mlflow: MlflowResource, dataset_version: int) -> dict:
    """Fine-tune on airline + Sentiment140 into MODELS_DIR/minilm-finetuned, unless it is current."""
    from ..lib.finetune import FinetuneConfig, finetune

    output = Path(settings.MODELS_DIR).resolve() / "minilm-finetuned"
    recipe = {k: v for k, v in config.model_dump().items() if k in _STAGE1_KEYS}
    rows = [(t, lab, src, split) for df in (train, val) for t, lab, src, split in
            zip(df.text, df.label, df.source, df.split)]
    expected = fingerprint({**recipe, "stage": 1}, rows)
    if not config.retrain and is_current(output, expected, ["config.json", TRAINING_HASHES]):
        _progress(context, "stage 1")(f"reusing {output}: labeled rows and recipe unchanged ({expected})")
        return {"model_path": str(output), "reused": True, "fingerprint": expected}
    run = client.create_run(mlflow.experiment_id(FINETUNE_EXPERIMENT), run_name="minilm-finetune",
                            tags={"dataset_version": str(dataset_version), "stage": "1"})
    run_id = run.info.run_id
    polar = _polar_only(train, config.polar_fraction)
    weights = [config.two_class_weight if two else 1.0 for two in _two_class(train)]
    params = {**recipe, "dataset_version": dataset_version, "code_version": code_version(), "train_rows": len(train),
              "val_rows": len(val), "data_mix": _mix(train), "normalisation": "clean_text", "fingerprint": expected}
    for key, value in params.items():
        client.log_param(run_id, key, str(value)[:6000])

    def log_curve(step: int, epoch: float, train_loss: float, val_metrics: dict) -> None:
        client.log_metric(run_id, "train_loss", train_loss, step=step)
        for name, value in val_metrics.items():
            client.log_metric(run_id, f"val_{name}", float(value), step=step)
        _progress(context, "stage 1")(f"step {step} epoch {epoch:.2f}: loss {train_loss:.4f}, "
                                      f"val macro recall {val_metrics.get('macro_recall', float('nan')):.3f}")

    scratch = _scratch(output)
    try:
        result = finetune(
            [clean_text(t) for t in train.text], list(train.label), [clean_text(t) for t in val.text], list(val.label),
            FinetuneConfig(base_model=config.base_model, max_length=config.max_length, batch_size=config.batch_size,
                           learning_rate=config.learning_rate, max_epochs=config.max_epochs,
                           time_budget_s=config.time_budget_s, patience=config.patience,
                           eval_every_steps=config.eval_every_steps, torch_threads=config.torch_threads,
                           seed=config.seed),
            scratch, on_eval=log_curve, train_polar_only=polar, train_weights=weights)
        (scratch / TRAINING_HASHES).write_text(json.dumps(
            {"final": sorted({text_hash(t) for df in (train, val) for t in df.text})}))
        write_fingerprint(scratch, expected, dataset_version=dataset_version)
    except BaseException:
        _discard(client, run_id, scratch)
        raise
    _publish(client, run_id, {"name": "minilm-finetuned", "kind": "finetuned"}, scratch, output)
    curve = pd.DataFrame(result.curve)
    return {"model_path": str(output), "reused": False, "fingerprint": expected, "mlflow_run_id": run_id,
            "best_val_macro_recall": result.best_val_macro_recall, "best_step": result.best_step,
            "stopped_reason": result.stopped_reason, "duration_s": round(result.seconds, 1),
            "training_curve": MetadataValue.md(curve.to_markdown(index=False) if len(curve) else "no evaluations")}


def _stage2(context: AssetExecutionContext, config: FinetuneAssetConfig, in_domain: pd.DataFrame,
            always: pd.DataFrame, stage1: dict, client, mlflow: MlflowResource, dataset_version: int) -> dict:
    """Cross-fit on the in-domain rows, stack with VADER, save MODELS_DIR/minilm-xfit-stack, unless current."""
    from ..lib.ml.crossfit import CrossfitConfig, crossfit
    from ..lib.ml.stack_folder import out_of_fold_metrics, write_stack_folder
    from ..lib.ml.stacker import vader_scores

    if config.crossfit_base not in ("stage1", "pretrained"):
        raise ValueError(f"crossfit_base must be 'stage1' or 'pretrained', got {config.crossfit_base!r}")
    output = Path(settings.MODELS_DIR).resolve() / STACK_CANDIDATE
    xfit = CrossfitConfig(folds=config.folds, epochs=config.crossfit_epochs,
                          learning_rate=config.crossfit_learning_rate, batch_size=config.crossfit_batch_size,
                          max_length=config.max_length, seed=config.seed, torch_threads=config.torch_threads)
    from_stage1 = config.crossfit_base == "stage1"
    base = stage1["model_path"] if from_stage1 else config.base_model
    recipe = {**xfit.__dict__, "normalisation": NORMALISATION, "stacker_inputs": list(config.stacker_inputs),
              "base": "stage1" if from_stage1 else (config.base_model or "packaged MiniLM"),
              "base_fingerprint": stage1["fingerprint"] if from_stage1 else ""}
    recipe.pop("torch_threads")
    expected = fingerprint(recipe, [*zip(in_domain.text, in_domain.label),
                                    *(("always", t, lab) for t, lab in zip(always.text, always.label))])
    if not config.retrain and is_current(output, expected, ["stack.json", "encoder", "oof.csv"]):
        _progress(context, "stack")(f"reusing {output}: labeled rows and recipe unchanged ({expected})")
        return {"model_path": str(output), "reused": True, "fingerprint": expected}
    run = client.create_run(mlflow.experiment_id(FINETUNE_EXPERIMENT), run_name=STACK_CANDIDATE,
                            tags={"dataset_version": str(dataset_version), "stage": "2"})
    run_id = run.info.run_id
    texts, labels = list(in_domain.text), list(in_domain.label)
    data_mix = {"crossfit_rows": _mix(in_domain), "every_fold_rows": _mix(always),
                "stage1": stage1["fingerprint"] if from_stage1 else "none"}
    for key, value in {**recipe, "data_mix": data_mix, "dataset_version": dataset_version,
                       "code_version": code_version(), "fingerprint": expected}.items():
        client.log_param(run_id, key, str(value)[:6000])
    scratch = _scratch(output)
    try:
        result = crossfit(texts, labels, base, xfit, scratch / "work", progress=_progress(context, "stack"),
                          extra_texts=list(always.text), extra_labels=list(always.label))
        base_hashes = (json.loads((Path(base) / TRAINING_HASHES).read_text())["final"]
                       if from_stage1 else [])
        write_stack_folder(result, xfit, config.stacker_inputs, texts,
                           vader_scores([normalise_tweet(t) for t in texts]), scratch, base_hashes,
                           {"base": recipe["base"], "data_mix": data_mix, "fingerprint": expected})
        shutil.rmtree(scratch / "work", ignore_errors=True)
        write_fingerprint(scratch, expected, dataset_version=dataset_version)
        metrics = {"training_s": result.seconds, **{f"fold_{i}_s": s for i, s in enumerate(result.fold_seconds)},
                   **out_of_fold_metrics(scratch)}
        client.log_batch(run_id, metrics=[_metric(k, v) for k, v in metrics.items()])
    except BaseException:
        _discard(client, run_id, scratch)
        raise
    _publish(client, run_id, {"name": STACK_CANDIDATE, "kind": "stack"}, scratch, output)
    return {"model_path": str(output), "reused": False, "fingerprint": expected, "mlflow_run_id": run_id,
            "duration_s": round(result.seconds, 1), "folds": config.folds, "recipe": MetadataValue.json(recipe)}


_STAGE1_KEYS = ("base_model", "train_size", "val_size", "max_epochs", "time_budget_s", "max_length", "batch_size",
                "learning_rate", "patience", "eval_every_steps", "polar_fraction", "two_class_weight", "seed")
TRAINING_HASHES = "training_hashes.json"
STACK_CANDIDATE = "minilm-xfit-stack"


def _progress(context: AssetExecutionContext, stage: str):
    """Logs a training message to Dagster and to the TRAINING_LOGGER Python logger."""
    def report(message: str) -> None:
        context.log.info(f"{stage}: {message}")
        logging.getLogger(TRAINING_LOGGER).info(f"{stage}: {message}")

    return report


def _publish(client, run_id: str, candidate: dict, scratch: Path, output: Path) -> None:
    """Log the trained model in scratch to its MLflow run, end the run, then move the model into place."""
    from ..lib.registry import log_model

    try:
        log_model(client, run_id, candidate_spec(candidate, str(scratch)), hf_model_dir=scratch)
    except BaseException:
        _discard(client, run_id, scratch)
        raise
    client.set_terminated(run_id, "FINISHED")
    _replace(scratch, output)


def _discard(client, run_id: str, scratch: Path) -> None:
    """A failed training: its MLflow run is marked failed and its half-written model removed."""
    client.set_terminated(run_id, "FAILED")
    shutil.rmtree(scratch, ignore_errors=True)


def _scratch(output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{output.name}-", dir=output.parent))


def _replace(scratch: Path, output: Path) -> None:
    shutil.rmtree(output, ignore_errors=True)
    os.replace(scratch, output)


def _mix(frame: pd.DataFrame) -> dict:
    """Rows per source file name and label."""
    counts = frame.groupby([frame.source.map(lambda s: Path(str(s)).name), "label"]).size()
    return {f"{source}/{label}": int(n) for (source, label), n in counts.items()}


def _two_class(train: pd.DataFrame) -> list[bool]:
    """Rows from sources without a neutral label (Sentiment140's emoticon labels)."""
    return [bool(flag) for flag in train.groupby("source").label.transform(lambda labels: "neutral" not in set(labels))]


def _polar_only(train: pd.DataFrame, fraction: float) -> list[bool]:
    """Flags `fraction` of the rows from two-class sources (no neutral label), spread evenly."""
    two_class = pd.Series(_two_class(train), index=train.index)
    seen = two_class.cumsum()
    return [bool(flag) and int(n * fraction) != int((n - 1) * fraction) for flag, n in zip(two_class, seen)]


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
    from ..lib.evaluation import confusion_matrix_png, evaluate
    from ..lib.registry import log_and_register

    candidate = CANDIDATES[context.partition_key]
    labeled, dataset_version = _labeled(lake)
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
    honest = _out_of_fold(spec, eval_rows) if spec.kind == "stack" else None
    if isinstance(honest, str):
        return _unavailable(context, client, run_id, candidate["name"], honest, dataset_version)
    if honest is not None:
        for key, value in read_recipe(spec.model).items():
            client.log_param(run_id, f"recipe_{key}", str(value)[:6000])
        client.set_tag(run_id, "evaluation", "out-of-fold")
    with stopwatch() as timer:
        result = evaluate(model, [clean_text(t) for t in eval_rows.text], list(eval_rows.label), config.batch_size,
                          probabilities=honest)
    metrics = result.metrics()
    if honest is not None:
        metrics["eval_texts_seen_in_training"] = 0.0
    client.log_batch(run_id, metrics=[_metric(k, v) for k, v in metrics.items()])
    with tempfile.TemporaryDirectory() as scratch:
        png = confusion_matrix_png(result, Path(scratch, "confusion_matrix.png"), f"{candidate['name']} on eval")
        predictions = Path(scratch, "predictions.csv")
        result.predictions.to_csv(predictions, index=False)
        client.log_artifact(run_id, str(png))
        client.log_artifact(run_id, str(predictions))
        confusion_md = png_markdown(png)
    hf_dir = spec.model if spec.kind in ("hf", "stack") and spec.model and os.path.isdir(spec.model) else None
    version = log_and_register(client, run_id, spec, hf_model_dir=hf_dir)
    client.set_tag(run_id, "available", "true")
    client.set_tag(run_id, "registered_version", version)
    client.set_terminated(run_id, "FINISHED")
    return MaterializeResult(metadata={
        "available": True, "registered_version": version, "mlflow_run_id": run_id, "dataset_version": dataset_version,
        **{k: round(float(v), 4) for k, v in metrics.items()}, "duration_s": timer["seconds"],
        "confusion_matrix": MetadataValue.md(confusion_md),
    })


def _out_of_fold(spec, eval_rows: pd.DataFrame):
    """A cross-fitted model's out-of-fold probabilities for the eval rows, or why there are none."""
    from ..lib.ml.stack_folder import out_of_fold_probabilities

    try:
        return out_of_fold_probabilities(spec.model, [text_hash(t) for t in eval_rows.text], spec.quantize)
    except (OSError, ValueError, KeyError) as exc:
        return f"no honest evaluation: {exc}"


def _unavailable(context: AssetExecutionContext, client, run_id: str, name: str, reason: str,
                 dataset_version: int) -> MaterializeResult:
    client.set_tag(run_id, "available", "false")
    client.set_tag(run_id, "unavailable_reason", reason[:5000])
    client.set_terminated(run_id, "FINISHED")
    context.log.warning(f"candidate {name} unavailable: {reason}")
    return MaterializeResult(metadata={"available": False, "reason": reason, "mlflow_run_id": run_id,
                                       "dataset_version": dataset_version})


def _metric(key: str, value: float):
    from mlflow.entities import Metric

    return Metric(key, float(value), int(time.time() * 1000), 0)


class ChampionConfig(Config):
    primary_metric: str = Field(default="macro_recall", description="macro_recall, accuracy or macro_f1")
    margin: float = Field(default=0.01, description="Required lower bound of the paired-bootstrap improvement")
    min_tweets_per_s: float = Field(default=20.0, description="Throughput floor for the stream")
    n_boot: int = 1000
    seed: int = 0


@asset(deps=[model_evaluations], group_name="ml", kinds={"mlflow"},
       automation_condition=AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()))
def champion_decision(context: AssetExecutionContext, config: ChampionConfig, lake: LakeResource,
                      mlflow: MlflowResource) -> MaterializeResult:
    """Picks the best registered candidate; a challenger wins only by a bootstrap-significant margin."""
    from ..lib.registry import CHAMPION, get_alias_version

    client = mlflow.client()
    _, dataset_version = _labeled(lake)
    candidates, labels = load_candidates(client, mlflow.experiment_id(EVALUATION_EXPERIMENT), list(CANDIDATES),
                                         dataset_version)
    champion_version = get_alias_version(client, CHAMPION)
    decision = decide(candidates, champion_version, labels, primary_metric=config.primary_metric,
                      margin=config.margin, min_tweets_per_s=config.min_tweets_per_s, n_boot=config.n_boot,
                      seed=config.seed)
    winner_version = decision.winner.version if decision.winner else None
    run = client.create_run(mlflow.experiment_id(DECISION_EXPERIMENT), run_name="champion-decision", tags={
        "promote": str(decision.promote).lower(), "winner": decision.winner.name if decision.winner else "",
        "winner_version": winner_version or "", "previous_champion_version": champion_version or "",
        "dataset_version": str(dataset_version)})
    client.set_tag(run.info.run_id, "reason", decision.reason[:5000])
    for key, value in config.model_dump().items():
        client.log_param(run.info.run_id, key, value)
    client.log_dict(run.info.run_id, {"table": decision.table, "reason": decision.reason}, "decision.json")
    client.set_terminated(run.info.run_id, "FINISHED")
    context.log.info(decision.reason)
    return MaterializeResult(metadata={
        "promote": decision.promote, "winner": decision.winner.name if decision.winner else "none",
        "winner_version": winner_version or "none", "champion_before": champion_version or "none",
        "reason": decision.reason, "mlflow_run_id": run.info.run_id, "dataset_version": dataset_version,
        "candidates": MetadataValue.md(pd.DataFrame(decision.table).to_markdown(index=False)),
    })


@asset(deps=[champion_decision], group_name="ml", kinds={"mlflow"}, output_required=False,
       automation_condition=AutomationCondition.eager())
def champion_model(context: AssetExecutionContext, mlflow: MlflowResource):
    """Moves the `champion` alias (old one to `previous-champion`) when the last decision promotes.

    Materializes only when the alias moves, so gold re-scores only after a real change.
    """
    from ..lib.registry import CHAMPION, get_alias_version, promote

    client = mlflow.client()
    decision = latest_decision(client, mlflow.experiment_id(DECISION_EXPERIMENT))
    before = get_alias_version(client, CHAMPION)
    if decision is None or decision["promote"] != "true" or decision["winner_version"] in ("", before):
        context.log.info(f"champion unchanged (version {before}): "
                         f"{decision['reason'] if decision else 'no decision recorded yet'}")
        return
    promote(client, decision["winner_version"])
    yield MaterializeResult(metadata={
        "champion_version": decision["winner_version"], "champion": decision["winner"],
        "previous_champion_version": before or "none", "reason": decision["reason"],
        "model_uri": f"models:/tweet-sentiment@{CHAMPION}",
    })
