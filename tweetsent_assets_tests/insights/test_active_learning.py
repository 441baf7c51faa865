"""The active-learning queue on real parts, and its round trip back into labeled_tweets.

Gold holds airline tweets scored by VADER; the registry holds VADER (v1, champion) and a tiny
RoBERTa (v2, runner-up in the recorded decision). The queue is exported to CSV, a labeler fills
in some labels and drops the file in labeled/, and labeled_tweets reads those rows back.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from dagster import materialize
from mlflow import MlflowClient

from tweetsent_assets.defs.active_learning import active_learning_queue
from tweetsent_assets.defs.models.labeled import labeled_tweets
from tweetsent_assets.defs.resources import LakeResource, MlflowResource, ObjectStoreResource
from tweetsent_assets.lib.ingest.sources import read_airline
from tweetsent_assets.lib.ingest.text_cleaning import clean_text, extract_mentions
from tweetsent_assets.lib.insights import active_learning
from tweetsent_assets.lib.ml.model_runs import DECISION_EXPERIMENT
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.registry import log_and_register, promote

from ..support import shared, suite_spark_resource
from ..tiny_models import build_tiny_roberta

GOLD_ROWS, QUEUE_SIZE = 80, 20
VADER = ModelSpec(kind="vader", model=None, name="vader")
GOLD_SCHEMA = ("id string, created_at timestamp, user string, text string, cleaned_text string, "
               "mentions array<string>, label string, score double, p_negative double, p_neutral double, "
               "p_positive double")


def test_rank_queue_mixes_uncertainty_and_disagreement():
    rows = pd.DataFrame({"id": ["sure", "unsure", "split"], "text": ["a", "b", "c"], "created_at": None, "user": None})
    champion = np.array([[0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.8, 0.1, 0.1]])
    runner_up = np.array([[0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.1, 0.1, 0.8]])
    queue = active_learning.rank_queue(rows, champion, runner_up, size=2)
    assert list(queue["id"]) == ["split", "unsure"] and list(queue["rank"]) == [1, 2]
    assert queue.loc[0, "disagreement"] == pytest.approx(0.7)
    assert queue.loc[1, "uncertainty"] == pytest.approx(0.6 / (2 / 3))
    assert (queue["label"] == "").all() and list(queue.champion_label) == ["negative", "negative"]
    alone = active_learning.rank_queue(rows, champion, None, size=3)
    assert list(alone["id"]) == ["unsure", "split", "sure"] and (alone["disagreement"] == 0).all()


@pytest.fixture(scope="module")
def setup(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("active-learning")
    lake = LakeResource(root=str(root / "lake"))
    records = list(read_airline(shared("airline/Tweets.csv"), limit=GOLD_ROWS))
    cleaned = [clean_text(r["text"]) for r in records]
    scored = load_model(VADER).predict(cleaned)
    start = datetime(2015, 2, 24, 11)
    rows = [(r["id"], start + timedelta(minutes=i), r["user"], r["text"], c, extract_mentions(r["text"]), label,
             float(score), *map(float, p))
            for i, (r, c, label, score, p) in enumerate(zip(records, cleaned, scored.labels, scored.scores,
                                                            scored.probabilities))]
    spark.createDataFrame(rows, GOLD_SCHEMA).write.format("delta").save(lake.path("gold_tweet_sentiment"))

    mlflow = MlflowResource(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "artifacts"))
    client = mlflow.client()
    run_id = client.create_run(mlflow.experiment_id("tweetsent-evaluations")).info.run_id
    tiny = ModelSpec(kind="hf", model=str(build_tiny_roberta(root / "tiny")), name="tiny", batch_size=16)
    versions = [log_and_register(client, run_id, VADER), log_and_register(client, run_id, tiny)]
    promote(client, versions[0])
    decision = client.create_run(mlflow.experiment_id(DECISION_EXPERIMENT)).info.run_id
    client.log_dict(decision, {"reason": "test", "table": [
        {"name": "vader", "version": "1", "available": True, "macro_recall": 0.61, "champion": True},
        {"name": "tiny", "version": "2", "available": True, "macro_recall": 0.34, "champion": False},
        {"name": "twitter-roberta", "version": None, "available": False, "macro_recall": None, "champion": False},
    ]}, "decision.json")
    resources = {"spark": suite_spark_resource(), "lake": lake, "mlflow": mlflow,
                 "landing": ObjectStoreResource(url=str(root / "landing"))}
    folder = root / "al"
    config = {"ops": {"active_learning_queue": {"config": {
        "size": QUEUE_SIZE, "least_confident": 30, "sample": 15, "folder": str(folder)}}}}
    clear_model_cache()
    yield {"spark": spark, "lake": lake, "client": client, "resources": resources, "folder": folder,
           "config": config, "gold": spark.read.format("delta").load(lake.path("gold_tweet_sentiment")).toPandas()}
    clear_model_cache()


def queue_metadata(result) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node("active_learning_queue")[0].metadata.items()}


def test_runner_up_from_decision_and_from_registry(setup):
    client: MlflowClient = setup["client"]
    decision = active_learning.latest_decision_table(client, client.get_experiment_by_name(DECISION_EXPERIMENT)
                                                     .experiment_id)
    assert active_learning.runner_up_version(client, decision) == "2"
    assert active_learning.runner_up_version(client, None) is None, "registry runs log no macro_recall here"


def test_queue_round_trip_through_csv_into_labeled_tweets(setup):
    result = materialize([active_learning_queue], resources=setup["resources"], run_config=setup["config"])
    assert result.success
    metadata = queue_metadata(result)
    assert (metadata["champion_version"], metadata["runner_up_version"]) == ("1", "2")
    assert metadata["candidates_scored"] == 45
    csv_path = setup["folder"] / "queue.csv"
    assert metadata["queue_csv"] == str(csv_path.resolve())
    queue = pd.read_csv(csv_path, dtype={"id": str}, keep_default_na=False)
    assert len(queue) == QUEUE_SIZE and list(queue["rank"]) == list(range(1, QUEUE_SIZE + 1))
    assert (queue["priority"].diff().dropna() <= 1e-12).all()
    assert (queue["label"] == "").all()
    gold = setup["gold"].set_index("id")
    assert np.allclose(queue["champion_score"], gold.loc[queue["id"], "score"]), "champion = VADER = gold's scorer"
    assert queue["disagreement"].max() > 0 and set(queue["runner_up_label"]) <= set(LABELS)
    delta = setup["spark"].read.format("delta").load(setup["lake"].path("active_learning_queue")).toPandas()
    assert sorted(delta["id"]) == sorted(queue["id"])

    labeled = queue.copy()
    chosen = {row.id: LABELS[i % 3] for i, row in enumerate(labeled.head(6).itertuples())}
    labeled["label"] = labeled["id"].map(chosen).fillna("")
    (setup["folder"] / "labeled").mkdir()
    labeled.to_csv(setup["folder"] / "labeled" / "round-1.csv", index=False)

    sources = active_learning.labeled_sources(setup["folder"])
    assert [(s.split, s.text_column, s.label_column) for s in sources] == [("train", "text", "label")]
    run_config = {"ops": {"labeled_tweets": {"config": {"holdout_fraction": 0.0, "sources": [
        {"path": s.path, "split": s.split, "text_column": s.text_column, "label_column": s.label_column}
        for s in sources]}}}}
    assert materialize([labeled_tweets], resources=setup["resources"], run_config=run_config).success
    table = setup["spark"].read.format("delta").load(setup["lake"].path("labeled_tweets")).toPandas()
    expected = {gold.loc[i, "text"]: label for i, label in chosen.items()}
    assert dict(zip(table["text"], table["label"])) == expected
    assert set(table["split"]) == {"train"}

    again = materialize([active_learning_queue], resources=setup["resources"], run_config=setup["config"])
    assert again.success
    assert queue_metadata(again)["already_labeled"] == 6
    requeued = pd.read_csv(csv_path, dtype={"id": str}, keep_default_na=False)
    assert not set(requeued["id"]) & set(chosen), "labeled tweets leave the queue"
