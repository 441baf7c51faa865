"""The active-learning queue: gold tweets most worth labeling, as a Delta table and a CSV to label."""
import os
from pathlib import Path

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from .. import settings
from ..lib.lake import delta_tables
from ..lib.ml.models.labels import LABELS
from .partitions import INSIGHTS_REFRESH
from .resources import LakeResource, MlflowResource, SparkResource
from .timing import stopwatch

QUEUE_SCHEMA = ("rank long, id string, label string, text string, champion_label string, champion_score double, "
                "runner_up_label string, runner_up_score double, disagreement double, uncertainty double, "
                "priority double, created_at timestamp, user string")


class ActiveLearningConfig(Config):
    size: int = Field(default=200, ge=1, description="Tweets in the queue")
    least_confident: int = Field(default=500, ge=0, description="Lowest-score gold rows re-scored as candidates")
    sample: int = Field(default=500, ge=0, description="Further gold rows (hash sample) re-scored as candidates")
    disagreement_weight: float = Field(default=0.5, ge=0.0, le=1.0,
                                       description="Weight of champion/runner-up disagreement vs champion uncertainty")
    seed: int = 0
    folder: str = Field(default=os.path.join(settings.DATA_DIR, "active_learning"),
                        description="queue.csv is written here; labeled copies are read from its labeled/ folder")


@asset(deps=["gold_tweet_sentiment", "champion_model"], group_name="insights", kinds={"spark", "delta", "mlflow"},
       automation_condition=INSIGHTS_REFRESH)
def active_learning_queue(context: AssetExecutionContext, config: ActiveLearningConfig, spark: SparkResource,
                          lake: LakeResource, mlflow: MlflowResource) -> MaterializeResult:
    """Gold tweets ranked by champion uncertainty and champion/runner-up disagreement, exported to queue.csv.

    Only the candidate rows (least confident plus a sample) are re-scored, on the driver.
    Tweets already labeled in `<folder>/labeled/*.csv` are left out.
    """
    from ..lib.insights import active_learning
    from ..lib.ml.model_runs import DECISION_EXPERIMENT
    from ..lib.ml.registry import CHAMPION, get_alias_version

    with stopwatch() as timer:
        session = spark.session()
        gold = session.read.format("delta").load(lake.path("gold_tweet_sentiment"))
        already = active_learning.labeled_ids(config.folder)
        rows = active_learning.candidate_rows(gold, config.least_confident, config.sample, config.seed, already)
        client = mlflow.client()
        champion = get_alias_version(client, CHAMPION)
        decision = active_learning.latest_decision_table(client, mlflow.experiment_id(DECISION_EXPERIMENT))
        runner_up = active_learning.runner_up_version(client, decision) if champion else None
        texts = list(rows["cleaned_text"])
        champion_p = _probabilities(client, champion, mlflow.tracking_uri, texts) if champion \
            else rows[[f"p_{label}" for label in LABELS]].to_numpy(dtype=float)
        runner_up_p = _probabilities(client, runner_up, mlflow.tracking_uri, texts) if runner_up else None
        queue = active_learning.rank_queue(rows, champion_p, runner_up_p, config.size, config.disagreement_weight)
        delta_tables.overwrite(session.createDataFrame(queue, QUEUE_SCHEMA), lake.path("active_learning_queue"))
        state = delta_tables.describe(session, lake.path("active_learning_queue"))
        csv_path = active_learning.export_csv(queue, Path(config.folder, "queue.csv")).resolve()
    context.log.info(f"queue of {len(queue)} from {len(rows)} candidates; champion {champion}, runner-up {runner_up}")
    shown = queue.head(10)[["rank", "text", "champion_label", "champion_score", "runner_up_label", "disagreement",
                            "priority"]].round(3)
    return MaterializeResult(metadata={
        **state.metadata(), **spark.metadata(), "duration_s": timer["seconds"], "queue_csv": MetadataValue.path(str(csv_path)),
        "candidates_scored": len(rows), "already_labeled": len(already),
        "labeled_files": len(active_learning.labeled_files(config.folder)),
        "champion_version": champion or "none (gold scores)", "runner_up_version": runner_up or "none",
        "mean_disagreement": round(float(queue["disagreement"].mean()), 4) if len(queue) else 0.0,
        "top_of_queue": MetadataValue.md(shown.to_markdown(index=False) if len(shown) else "empty"),
    })


def _probabilities(client, version: str, tracking_uri: str, texts: list[str]):
    """(n, 3) probabilities of registered `version` for `texts`, in LABELS order."""
    import numpy as np

    from ..lib.ml.models.loader import load_model
    from ..lib.ml.registry import version_spec

    if not texts:
        return np.zeros((0, len(LABELS)))
    return np.asarray(load_model(version_spec(client, version, tracking_uri)).predict(texts).probabilities)
