"""The fine-tuned candidate: stage 1 fine-tunes MiniLM, stage 2 cross-fits it on in-domain rows and stacks with VADER.

MLflow is imported inside the functions that use it: every run process loads this module, and a
micro-batch run needs none of it.
"""
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ... import settings
from ...lib.ingest.text_cleaning import clean_text
from ...lib.ml.fingerprint import fingerprint, is_current, write_fingerprint
from ...lib.ml.model_card import training_summary, write_card
from ...lib.ml.model_runs import FINETUNE_EXPERIMENT, candidate_spec, code_version, mlflow_metric
from ...lib.ml.normalise import NORMALISATION, normalise_tweet, text_hash
from ..resources import LakeResource, MlflowResource
from .candidates import TRAINING_LOGGER
from .labeled import labeled_frame, labeled_tweets


class FinetuneAssetConfig(Config):
    """Stage 1 fine-tunes the encoder on the training split; stage 2 stacks it with VADER.

    The defaults are the long run (`make train`); `make demo` passes a shorter one.
    """

    base_model: Optional[str] = Field(default=None, description="Encoder path or id; default: the packaged MiniLM")
    train_size: Optional[int] = Field(default=None, description="Stage 1 trains on at most this many rows (None: all)")
    val_size: int = Field(default=2000, description="Rows of the held-out slice of train for early stopping")
    max_epochs: int = 3
    time_budget_s: float = Field(default=2700.0, description=(
        "Stage 1's training time, loading included: the learning-rate schedule ends when it runs out"))
    max_length: int = 64
    batch_size: int = 32
    learning_rate: float = 5e-5
    patience: int = 3
    eval_every_steps: Optional[int] = 300
    stage1_sources: list[str] = Field(default_factory=lambda: ["tweeteval_sentiment"], description=(
        "Stage 1 trains and stops early on the train/val rows of the sources whose path contains one of these "
        "(plus in_domain_sources); when there are none (no TweetEval training split), on every train row, "
        "the old recipe"))
    stage1_other_rows: int = Field(default=0, description=(
        "Rows of the other train sources (airline, Sentiment140) that join stage 1's training when it trains "
        "on stage1_sources"))
    stack_protocol: str = Field(default="auto", description=(
        "'heldout': the stack's encoder is stage 1 and its stacker is fitted on `stacker_rows` train rows that "
        "stage 1 never saw; 'crossfit': folds over the eval rows, evaluated out of fold (the old recipe); "
        "'auto': heldout when stage 1 has rows of stage1_sources, else crossfit"))
    stacker_rows: int = Field(default=2000,
                              description="Train rows of stage1_sources held out of stage 1 for the stacker")
    polar_fraction: float = Field(default=0.5, description=(
        "Share of two-class (Sentiment140) rows whose loss ignores neutral: it has no neutral tweets, so "
        "training them as 3-class teaches that ordinary tweets are never neutral"))
    two_class_weight: float = Field(default=1.0, description="Loss weight of two-class rows (noisy emoticon labels)")
    torch_threads: Optional[int] = None
    crossfit: bool = Field(default=True, description="Train the stack (stage 2), by stack_protocol")
    folds: int = 5
    crossfit_epochs: int = 3
    crossfit_learning_rate: float = 5e-5
    crossfit_batch_size: int = 16
    crossfit_base: str = Field(default="pretrained", description="'stage1' (the stage-1 checkpoint) or 'pretrained'")
    stacker_inputs: list[str] = Field(default_factory=lambda: ["transformer", "vader"])
    stacker_tau: str = Field(default="balanced", description=(
        "The stacker's decision rule: 'balanced' (class-weighted fit), a number tau (plain fit, logits minus "
        "tau * log prior) or 'oof' (that, with tau chosen over inner folds of the out-of-fold rows)"))
    crossfit_loss_tau: Optional[float] = Field(default=None, description=(
        "The fine-tune's loss: None for class weights, or tau for the logit-adjusted loss (logits plus "
        "tau * log prior while training)"))
    in_domain_sources: list[str] = Field(default_factory=lambda: ["active_learning"], description=(
        "Train rows whose source path contains one of these join every fold of the stack (never evaluated)"))
    crossfit_other_rows: int = Field(default=2000, description=(
        "Rows of the other train sources (airline, Sentiment140) that also join every fold of the stack; "
        "two-class sources ignore the neutral logit"))
    crossfit_other_weight: float = Field(default=0.5, description="Loss weight of those rows (in-domain rows weigh 1)")
    crossfit_pretrain_texts: int = Field(default=0, description=(
        "Texts of the other train sources, labels unused, for continued pretraining (masked-language "
        "modelling) of the encoder before the stack's folds; 0 skips it"))
    crossfit_pretrain_epochs: int = 1
    crossfit_self_train_texts: int = Field(default=0, description=(
        "Texts of the other train sources, labels unused, for self-training: each stack model labels them "
        "and trains again with the confident ones; 0 skips it (it doubles the training at least)"))
    crossfit_pseudo_threshold: float = Field(default=0.7, description="Self-training keeps texts labeled at >= this")
    crossfit_pseudo_weight: float = Field(default=0.5, description="Loss weight of the self-labeled texts")
    seed: int = 0
    retrain: bool = Field(default=False, description="Train even when the labeled rows and the recipe are unchanged")


@asset(deps=[labeled_tweets], group_name="ml", kinds={"pytorch", "mlflow"})
def finetuned_sentiment_model(context: AssetExecutionContext, config: FinetuneAssetConfig, lake: LakeResource,
                              mlflow: MlflowResource) -> MaterializeResult:
    """Stage 1 fine-tunes on train (early stopping on val); stage 2 stacks it with VADER (see stack_protocol).

    Each stage is skipped, and its saved model reused, when its labeled rows and recipe are unchanged.
    """
    labeled, dataset_version = labeled_frame(lake)
    in_domain = labeled[labeled.split == "eval"]
    eval_hashes = {text_hash(t) for t in in_domain.text}
    unseen = labeled[[text_hash(t) not in eval_hashes for t in labeled.text]]
    rows = stage1_rows(config, unseen)
    _progress(context, "stage 1")(
        f"protocol {rows.protocol}: stage 1 trains on {len(rows.train)} rows, stops early on {len(rows.val)}; "
        f"{len(rows.stacker)} held out for the stacker", milestone=True)
    client = mlflow.client()
    stage1 = _stage1(context, config, rows.train, rows.val, client, mlflow, dataset_version)
    metadata = {"protocol": rows.protocol, **{f"stage1_{k}": v for k, v in stage1.items()}}
    if config.crossfit and rows.protocol == HELDOUT:
        stage2 = _stack_heldout(context, config, rows.stacker, stage1, client, mlflow, dataset_version)
        metadata.update({f"stack_{k}": v for k, v in stage2.items()})
    elif config.crossfit:
        in_domain_source = unseen.source.map(
            lambda source: any(part in str(source) for part in config.in_domain_sources))
        always = unseen[(unseen.split != "eval") & in_domain_source]
        others = (unseen[(unseen.split == "train") & ~in_domain_source].sample(frac=1.0, random_state=config.seed)
                  .head(config.crossfit_other_rows))
        shuffled = unseen[unseen.split == "train"].sample(frac=1.0, random_state=config.seed + 1)
        unlabeled = {"pretrain": shuffled.head(config.crossfit_pretrain_texts),
                     "self_train": shuffled.head(config.crossfit_self_train_texts)}
        stage2 = _stage2(context, config, in_domain, always, others, unlabeled, stage1, client, mlflow,
                         dataset_version)
        metadata.update({f"stack_{k}": v for k, v in stage2.items()})
    return MaterializeResult(metadata=metadata)


HELDOUT, CROSSFIT = "heldout", "crossfit"
STACK_PROTOCOLS = (HELDOUT, CROSSFIT, "auto")


@dataclass
class Stage1Rows:
    """Stage 1's training and early-stopping rows, the rows held out for the stacker, and the stack's protocol."""

    protocol: str
    train: pd.DataFrame
    val: pd.DataFrame
    stacker: pd.DataFrame


def stage1_rows(config: FinetuneAssetConfig, unseen: pd.DataFrame) -> Stage1Rows:
    """Split the labeled rows (eval texts already removed) by the config's sources and protocol.

    With rows of `stage1_sources` in train, stage 1 learns from those (and the in-domain labels,
    plus `stage1_other_rows` of the rest), and under the heldout protocol `stacker_rows` of them,
    and every row sharing their text, stay out of it for the stacker. Without any, every train row
    trains stage 1 and the stack cross-fits on the eval rows: the old recipe.
    """
    if config.stack_protocol not in STACK_PROTOCOLS:
        raise ValueError(f"stack_protocol must be one of {STACK_PROTOCOLS}, got {config.stack_protocol!r}")
    primary = _from_sources(unseen, config.stage1_sources)
    has_primary = bool((primary & (unseen.split == "train")).any())
    protocol = config.stack_protocol if config.stack_protocol != "auto" else (HELDOUT if has_primary else CROSSFIT)
    if protocol == HELDOUT and not has_primary:
        raise ValueError(f"stack_protocol 'heldout' needs train rows from a source matching {config.stage1_sources} "
                         "(the TweetEval training split), and the labeled table has none")
    if not has_primary:
        train = unseen[unseen.split == "train"].sample(frac=1.0, random_state=config.seed).head(config.train_size)
        val = unseen[unseen.split == "val"].sample(frac=1.0, random_state=config.seed).head(config.val_size)
        return Stage1Rows(protocol, train, val, unseen.head(0))
    shuffled = unseen.sample(frac=1.0, random_state=config.seed)
    primary = primary.loc[shuffled.index]
    chosen = shuffled[primary | _from_sources(shuffled, config.in_domain_sources)]
    slice_rows = config.stacker_rows if protocol == HELDOUT else 0
    stacker = chosen[(chosen.split == "train") & primary.loc[chosen.index]].head(slice_rows)
    held = {text_hash(t) for t in stacker.text}
    chosen = chosen[[text_hash(t) not in held for t in chosen.text]]
    others = shuffled[(shuffled.split == "train") & ~shuffled.index.isin(chosen.index)
                      & ~shuffled.index.isin(stacker.index)]
    others = others[[text_hash(t) not in held for t in others.text]].head(config.stage1_other_rows)
    train = pd.concat([chosen[chosen.split == "train"].head(config.train_size), others])
    return Stage1Rows(protocol, train, chosen[chosen.split == "val"].head(config.val_size), stacker)


def _from_sources(frame: pd.DataFrame, parts: list[str]) -> pd.Series:
    """Rows whose source path contains one of `parts`."""
    return frame.source.map(lambda source: any(part in str(source) for part in parts)).astype(bool)


def _stage1(context: AssetExecutionContext, config: FinetuneAssetConfig, train: pd.DataFrame, val: pd.DataFrame,
            client, mlflow: MlflowResource, dataset_version: int) -> dict:
    """Fine-tune on airline + Sentiment140 into MODELS_DIR/minilm-finetuned, unless it is current."""
    from ...lib.ml.finetune import FinetuneConfig, finetune

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

    started, epochs_done, best = time.monotonic(), [0], [float("nan")]

    def log_curve(step: int, epoch: float, train_loss: float, val_metrics: dict) -> None:
        client.log_metric(run_id, "train_loss", train_loss, step=step)
        for name, value in val_metrics.items():
            client.log_metric(run_id, f"val_{name}", float(value), step=step)
        recall = val_metrics.get("macro_recall", float("nan"))
        best[0] = recall if math.isnan(best[0]) or recall > best[0] else best[0]
        _progress(context, "stage 1")(f"step {step} epoch {epoch:.2f}: loss {train_loss:.4f}, "
                                      f"val macro recall {recall:.3f}")
        if int(epoch) > epochs_done[0]:
            epochs_done[0] = int(epoch)
            _progress(context, "stage 1")(
                f"epoch {epochs_done[0]}/{config.max_epochs} done (checked at step {step}, "
                f"{time.monotonic() - started:.0f} s): "
                f"loss {train_loss:.4f}, early-stopping macro recall {recall:.3f} (best {best[0]:.3f})",
                milestone=True)

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
        write_card(scratch, training_summary(
            {"train": train, "early stopping": val},
            {"stage": "1: fine-tune", **recipe, "stage1_sources": config.stage1_sources,
             "stage1_other_rows": config.stage1_other_rows, "stopped": result.stopped_reason,
             "best_step": result.best_step,
             "training_s": round(result.seconds), "base": config.base_model or "packaged all-MiniLM-L6-v2"}))
        write_fingerprint(scratch, expected, dataset_version=dataset_version)
    except BaseException:
        _discard(client, run_id, scratch)
        raise
    _publish(client, run_id, {"name": "minilm-finetuned", "kind": "finetuned"}, scratch, output)
    _progress(context, "stage 1")(f"done in {result.seconds:.0f} s ({result.stopped_reason}): best early-stopping "
                                  f"macro recall {result.best_val_macro_recall:.3f} at step {result.best_step}",
                                  milestone=True)
    curve = pd.DataFrame(result.curve)
    return {"model_path": str(output), "reused": False, "fingerprint": expected, "mlflow_run_id": run_id,
            "best_val_macro_recall": result.best_val_macro_recall, "best_step": result.best_step,
            "stopped_reason": result.stopped_reason, "duration_s": round(result.seconds, 1),
            "training_curve": MetadataValue.md(curve.to_markdown(index=False) if len(curve) else "no evaluations")}


def _stage2(context: AssetExecutionContext, config: FinetuneAssetConfig, in_domain: pd.DataFrame,
            always: pd.DataFrame, others: pd.DataFrame, unlabeled: dict[str, pd.DataFrame], stage1: dict,
            client, mlflow: MlflowResource, dataset_version: int) -> dict:
    """Cross-fit on the in-domain rows, stack with VADER, save MODELS_DIR/minilm-xfit-stack, unless current.

    `always` (in-domain labels never evaluated) and `others` (other sources' rows, weighted by
    `crossfit_other_weight`) join every fold's training. The texts of `unlabeled["pretrain"]`, when
    there are any, first adapt the encoder by continued pretraining; those of
    `unlabeled["self_train"]` are labeled by each model, which then trains again with them.
    """
    from ...lib.ml.crossfit import CrossfitConfig, crossfit
    from ...lib.ml.stack_folder import out_of_fold_metrics, read_recipe, write_stack_folder
    from ...lib.ml.stacker import parse_tau, vader_scores

    pretrain, self_train = unlabeled["pretrain"], unlabeled["self_train"]
    if config.crossfit_base not in ("stage1", "pretrained"):
        raise ValueError(f"crossfit_base must be 'stage1' or 'pretrained', got {config.crossfit_base!r}")
    output = Path(settings.MODELS_DIR).resolve() / STACK_CANDIDATE
    tau = parse_tau(config.stacker_tau)
    xfit = CrossfitConfig(folds=config.folds, epochs=config.crossfit_epochs,
                          learning_rate=config.crossfit_learning_rate, batch_size=config.crossfit_batch_size,
                          max_length=config.max_length, seed=config.seed, torch_threads=config.torch_threads,
                          loss_tau=config.crossfit_loss_tau, pseudo_threshold=config.crossfit_pseudo_threshold,
                          pseudo_weight=config.crossfit_pseudo_weight)
    from_stage1 = config.crossfit_base == "stage1"
    base = stage1["model_path"] if from_stage1 else config.base_model
    recipe = {**xfit.__dict__, "normalisation": NORMALISATION, "stacker_inputs": list(config.stacker_inputs),
              "stacker_tau": config.stacker_tau,
              "base": "stage1" if from_stage1 else (config.base_model or "packaged MiniLM"),
              "base_fingerprint": stage1["fingerprint"] if from_stage1 else "",
              "other_rows_weight": config.crossfit_other_weight, "pretrain_texts": len(pretrain),
              "pretrain_epochs": config.crossfit_pretrain_epochs, "self_train_texts": len(self_train)}
    recipe.pop("torch_threads")
    expected = fingerprint(recipe, [*zip(in_domain.text, in_domain.label),
                                    *(("always", t, lab) for t, lab in zip(always.text, always.label)),
                                    *(("other", t, lab) for t, lab in zip(others.text, others.label)),
                                    *(("pretrain", t) for t in pretrain.text),
                                    *(("self_train", t) for t in self_train.text)])
    if not config.retrain and is_current(output, expected, ["stack.json", "encoder", "oof.csv"]):
        _progress(context, "stack")(f"reusing {output}: labeled rows and recipe unchanged ({expected})")
        return {"model_path": str(output), "reused": True, "fingerprint": expected}
    run = client.create_run(mlflow.experiment_id(FINETUNE_EXPERIMENT), run_name=STACK_CANDIDATE,
                            tags={"dataset_version": str(dataset_version), "stage": "2"})
    run_id = run.info.run_id
    texts, labels = list(in_domain.text), list(in_domain.label)
    two_class = _two_class(others)
    data_mix = {"crossfit_rows": _mix(in_domain), "every_fold_rows": _mix(always), "other_rows": _mix(others),
                "other_rows_weight": config.crossfit_other_weight,
                "other_rows_two_class": _mix(others[pd.Series(two_class, index=others.index, dtype=bool)]),
                "stage1": stage1["fingerprint"] if from_stage1 else "none",
                **{f"{name}_texts": frame.source.map(lambda source: Path(str(source)).name).value_counts().to_dict()
                   for name, frame in unlabeled.items()}}
    for key, value in {**recipe, "data_mix": data_mix, "dataset_version": dataset_version,
                       "code_version": code_version(), "fingerprint": expected}.items():
        client.log_param(run_id, key, str(value)[:6000])
    scratch = _scratch(output)
    try:
        base_hashes = json.loads((Path(base) / TRAINING_HASHES).read_text())["final"] if from_stage1 else []
        pretrained = {}
        if len(pretrain):
            base, pretrained = _pretrain(context, config, list(pretrain.text), base, scratch / "pretrained")
            base_hashes += pretrained.pop("hashes")
        result = crossfit(texts, labels, base, xfit, scratch / "work", progress=_progress(context, "stack"),
                          extra_texts=[*always.text, *others.text], extra_labels=[*always.label, *others.label],
                          extra_polar=[False] * len(always) + two_class,
                          extra_weights=[1.0] * len(always) + [config.crossfit_other_weight] * len(others),
                          unlabeled_texts=list(self_train.text))
        write_stack_folder(result, xfit, config.stacker_inputs, texts,
                           vader_scores([normalise_tweet(t) for t in texts]), scratch, base_hashes,
                           {"base": recipe["base"], "data_mix": data_mix, "fingerprint": expected}, tau)
        client.log_param(run_id, "stacker_tau_fitted", str(read_recipe(scratch)["stacker_tau_fitted"]))
        write_card(scratch, training_summary(
            {"cross-fitted in-domain (eval, out of fold)": in_domain, "every fold": always, "other rows": others,
             "pretraining texts (labels unused)": pretrain},
            {"stage": "2: cross-fitted stack", **recipe, "training_s": round(result.seconds)}))
        for leftover in ("work", "pretrained"):
            shutil.rmtree(scratch / leftover, ignore_errors=True)
        write_fingerprint(scratch, expected, dataset_version=dataset_version)
        metrics = {"training_s": result.seconds, **{f"fold_{i}_s": s for i, s in enumerate(result.fold_seconds)},
                   **pretrained, **out_of_fold_metrics(scratch)}
        client.log_batch(run_id, metrics=[mlflow_metric(k, v) for k, v in metrics.items()])
    except BaseException:
        _discard(client, run_id, scratch)
        raise
    _publish(client, run_id, {"name": STACK_CANDIDATE, "kind": "stack"}, scratch, output)
    return {"model_path": str(output), "reused": False, "fingerprint": expected, "mlflow_run_id": run_id,
            "duration_s": round(result.seconds, 1), "folds": config.folds, "recipe": MetadataValue.json(recipe)}


def _stack_heldout(context: AssetExecutionContext, config: FinetuneAssetConfig, rows: pd.DataFrame, stage1: dict,
                   client, mlflow: MlflowResource, dataset_version: int) -> dict:
    """The stack on stage 1's encoder, its stacker fitted on `rows` (train rows stage 1 never saw), unless current."""
    from ...lib.ml.heldout_stack import PROTOCOL, write_heldout_stack
    from ...lib.ml.model_card import read_card
    from ...lib.ml.stacker import parse_tau

    output = Path(settings.MODELS_DIR).resolve() / STACK_CANDIDATE
    tau = parse_tau(config.stacker_tau)
    recipe = {"protocol": PROTOCOL, "normalisation": NORMALISATION, "stacker_inputs": list(config.stacker_inputs),
              "stacker_tau": config.stacker_tau, "max_length": config.max_length, "base": "stage1",
              "base_fingerprint": stage1["fingerprint"]}
    expected = fingerprint(recipe, zip(rows.text, rows.label))
    if not config.retrain and is_current(output, expected, ["stack.json", "encoder", TRAINING_HASHES]):
        _progress(context, "stack")(f"reusing {output}: stage 1, stacker rows and recipe unchanged ({expected})")
        return {"model_path": str(output), "reused": True, "fingerprint": expected}
    run = client.create_run(mlflow.experiment_id(FINETUNE_EXPERIMENT), run_name=STACK_CANDIDATE,
                            tags={"dataset_version": str(dataset_version), "stage": "2"})
    run_id = run.info.run_id
    data_mix = {"stacker_rows": _mix(rows), "stage1": stage1["fingerprint"]}
    for key, value in {**recipe, "data_mix": data_mix, "dataset_version": dataset_version,
                       "code_version": code_version(), "fingerprint": expected}.items():
        client.log_param(run_id, key, str(value)[:6000])
    _progress(context, "stack")(f"fitting the stacker on {len(rows)} held-out train rows", milestone=True)
    scratch = _scratch(output)
    started = time.monotonic()
    try:
        written = write_heldout_stack(stage1["model_path"], list(rows.text), list(rows.label), config.stacker_inputs,
                                      scratch, tau, config.max_length, {"data_mix": data_mix, "fingerprint": expected})
        client.log_param(run_id, "stacker_tau_fitted", str(written["stacker_tau_fitted"]))
        encoder_card = read_card(stage1["model_path"])
        encoder_roles = {f"encoder {role}": info for role, info in encoder_card.get("roles", {}).items()}
        write_card(scratch, {"roles": {**encoder_roles,
                                       **training_summary({"stacker (held out of the encoder)": rows})["roles"]},
                             "recipe": {"stage": "2: held-out stack", **recipe,
                                        "encoder": encoder_card.get("recipe", {})}})
        write_fingerprint(scratch, expected, dataset_version=dataset_version)
        seconds = time.monotonic() - started
        client.log_batch(run_id, metrics=[mlflow_metric("training_s", seconds),
                                          mlflow_metric("stacker_rows", float(len(rows)))])
    except BaseException:
        _discard(client, run_id, scratch)
        raise
    _publish(client, run_id, {"name": STACK_CANDIDATE, "kind": "stack"}, scratch, output)
    return {"model_path": str(output), "reused": False, "fingerprint": expected, "mlflow_run_id": run_id,
            "duration_s": round(seconds, 1), "stacker_rows": len(rows), "recipe": MetadataValue.json(recipe)}


MILESTONE = "milestone"
_STAGE1_KEYS = ("base_model", "train_size", "val_size", "max_epochs", "time_budget_s", "max_length", "batch_size",
                "learning_rate", "patience", "eval_every_steps", "polar_fraction", "two_class_weight", "seed")
TRAINING_HASHES = "training_hashes.json"
STACK_CANDIDATE = "minilm-xfit-stack"


def _pretrain(context: AssetExecutionContext, config: FinetuneAssetConfig, texts: list[str], base: Optional[str],
              output: Path) -> tuple[str, dict]:
    """Continued pretraining of `base` (default: the packaged MiniLM) on `texts`: (its folder, hashes and figures)."""
    from ...lib.ml.finetune import default_base_model
    from ...lib.ml.pretrain import PretrainConfig, continue_pretraining

    result = continue_pretraining(texts, base or default_base_model(),
                                  PretrainConfig(epochs=config.crossfit_pretrain_epochs, max_length=config.max_length,
                                                 seed=config.seed, torch_threads=config.torch_threads),
                                  output, progress=_progress(context, "stack"))
    return str(result.output_dir), {"hashes": result.hashes, "pretrain_s": result.seconds,
                                    "pretrain_first_loss": result.first_loss, "pretrain_last_loss": result.last_loss}


def _progress(context: AssetExecutionContext, stage: str):
    """Logs a training message to Dagster and to the TRAINING_LOGGER Python logger.

    `milestone=True` marks the few lines (an epoch's end, a stage's start) a console prints in full.
    """
    def report(message: str, milestone: bool = False) -> None:
        context.log.info(f"{stage}: {message}")
        logging.getLogger(TRAINING_LOGGER).info(f"{stage}: {message}", extra={MILESTONE: milestone})

    return report


def _publish(client, run_id: str, candidate: dict, scratch: Path, output: Path) -> None:
    """Log the trained model in scratch to its MLflow run, end the run, then move the model into place."""
    from ...lib.ml.registry import log_model

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
