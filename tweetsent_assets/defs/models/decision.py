"""The champion decision (paired bootstrap over the registered candidates) and the `champion` alias it moves."""
import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ...lib.ml.model_runs import (DECISION_EXPERIMENT, EVALUATION_EXPERIMENT, drift_baseline, latest_decision,
                                  load_candidates)
from ...lib.ml.promotion import decide
from ..resources import LakeResource, MlflowResource
from .candidates import CANDIDATES
from .evaluation import model_evaluations
from .labeled import labeled_frame


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
    from ...lib.ml.registry import CHAMPION, get_alias_version

    client = mlflow.client()
    _, dataset_version = labeled_frame(lake)
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
def champion_model(context: AssetExecutionContext, mlflow: MlflowResource, lake: LakeResource):
    """Moves the `champion` alias (old one to `previous-champion`) when the last decision promotes.

    Materializes only when the alias moves, so gold re-scores only after a real change. The new
    champion's evaluation statistics become the drift baseline (prediction_drift compares with it).
    """
    from ...lib.ml.registry import CHAMPION, get_alias_version, promote

    client = mlflow.client()
    decision = latest_decision(client, mlflow.experiment_id(DECISION_EXPERIMENT))
    before = get_alias_version(client, CHAMPION)
    if decision is None or decision["promote"] != "true" or decision["winner_version"] in ("", before):
        context.log.info(f"champion unchanged (version {before}): "
                         f"{decision['reason'] if decision else 'no decision recorded yet'}")
        return
    promote(client, decision["winner_version"])
    baseline = _reset_drift_baseline(client, mlflow, lake, decision["winner_version"])
    if baseline is None:
        context.log.warning(f"version {decision['winner_version']}'s evaluation logged no drift baseline; "
                            "prediction_drift keeps the previous one until it is evaluated again")
    yield MaterializeResult(metadata={
        "champion_version": decision["winner_version"], "champion": decision["winner"],
        "previous_champion_version": before or "none", "reason": decision["reason"],
        "model_uri": f"models:/tweet-sentiment@{CHAMPION}", "drift_baseline_run": baseline or "none",
    })


def _reset_drift_baseline(client, mlflow: MlflowResource, lake: LakeResource, version: str) -> str | None:
    """Stores the evaluation statistics of `version` as the drift baseline; returns the run they came from."""
    from ...lib.insights.drift import Baseline
    from ...lib.insights.drift_tables import BASELINE_TABLE, write_baseline

    found = drift_baseline(client, mlflow.experiment_id(EVALUATION_EXPERIMENT), version)
    if found is None:
        return None
    run_id, raw = found
    write_baseline(lake.path(BASELINE_TABLE), Baseline.from_dict(raw), run_id)
    return run_id
