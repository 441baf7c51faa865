"""EDA over small bronze/silver/gold Delta tables whose missing values, top terms and labels are known."""
from __future__ import annotations

import base64

import pytest
from dagster import materialize

from tweetsent_assets.defs.eda import EDA_EXPERIMENT, tweet_eda
from tweetsent_assets.defs.resources import LakeResource, MlflowResource
from tweetsent_assets.lib.insights import eda

from ..support import suite_spark_resource

BRONZE = [
    ("b1", "a1", "2026-03-01T10:00:00Z", "alice", "@united late again #fail", "negative", "en"),
    ("b1", "a2", "2026-03-01T10:01:00Z", "alice", "@united thanks! #win", "positive", None),
    ("b1", "a3", "2026-03-01T10:02:00Z", "bob", "   ", "neutral", None),
    ("b1", "a4", "2026-03-01T10:03:00Z", None, "@delta ok", "neutral", None),
    ("b1", "a5", None, "carol", "@united @delta lost my bag, 40 minutes on hold with nobody answering", "negative", "en"),
    ("b1", None, "2026-03-01T10:05:00Z", "alice", "no id, hashed", None, None),
]
BRONZE_SCHEMA = "batch_id string, id string, date string, user string, text string, sentiment string, lang string"
SILVER_SCHEMA = ("id string, user string, text string, cleaned_text string, mentions array<string>, "
                 "hashtags array<string>, given_sentiment string")
GOLD_SCHEMA = SILVER_SCHEMA + ", label string, score double"
PREDICTED = {"a1": "negative", "a2": "positive", "a4": "positive", "a5": "neutral", "h6": "neutral"}


def silver_rows() -> list[tuple]:
    rows = []
    for _, id_, _, user, text, sentiment, _ in BRONZE:
        if text.strip():
            words = text.split()
            rows.append((id_ or "h6", user, text, text.replace("@", "@user "),
                         [w.strip("@,!") for w in words if w.startswith("@")],
                         [w.strip("#") for w in words if w.startswith("#")], sentiment))
    return rows


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("eda")
    lake = LakeResource(root=str(root / "lake"))
    silver = silver_rows()
    gold = [(*row, PREDICTED[row[0]], 0.9) for row in silver]
    for name, rows, schema in (("bronze_tweets", BRONZE, BRONZE_SCHEMA), ("silver_tweets", silver, SILVER_SCHEMA),
                               ("gold_tweet_sentiment", gold, GOLD_SCHEMA)):
        spark.createDataFrame(rows, schema).write.format("delta").save(lake.path(name))
    mlflow = MlflowResource(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "artifacts"))
    return {"spark": spark, "lake": lake, "mlflow": mlflow,
            "frames": {n: spark.read.format("delta").load(lake.path(n))
                       for n in ("bronze_tweets", "silver_tweets", "gold_tweet_sentiment")}}


def test_missing_values_count_nulls_and_blanks(tables):
    missing = eda.missing_values(tables["frames"]["bronze_tweets"]).set_index("column")
    assert missing["missing"].to_dict() == {"batch_id": 0, "id": 1, "date": 1, "user": 1, "text": 1,
                                            "sentiment": 1, "lang": 4}
    assert missing.loc["lang", "share"] == pytest.approx(4 / 6)


def test_top_values_and_text_lengths(tables):
    silver = tables["frames"]["silver_tweets"]
    users = eda.top_values(silver, "user", 2)
    assert users.values.tolist() == [["alice", 3], ["carol", 1]]
    mentions = eda.top_values(silver, "mentions", 5, explode=True)
    assert mentions.values.tolist() == [["united", 3], ["delta", 2]]
    assert set(eda.top_values(silver, "hashtags", 5, explode=True)["value"]) == {"fail", "win"}
    lengths = eda.text_length_histogram(tables["frames"]["bronze_tweets"], "text", bin_width=20, max_length=60)
    assert lengths.values.tolist() == [[0, 3], [20, 2], [40, 0], [60, 1]]


def test_given_vs_predicted(tables):
    crosstab = eda.given_vs_predicted(tables["frames"]["gold_tweet_sentiment"])
    assert crosstab.loc["negative"].tolist() == [1, 1, 0]
    assert crosstab.loc["neutral"].tolist() == [0, 0, 1]
    assert crosstab.loc["positive"].tolist() == [0, 0, 1]
    assert eda.agreement(crosstab) == 0.5


def test_eda_asset_shows_plots_inline_and_logs_them_to_mlflow(tables):
    result = materialize([tweet_eda], resources={"spark": suite_spark_resource(), "lake": tables["lake"],
                                                 "mlflow": tables["mlflow"]})
    assert result.success
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("tweet_eda")[0].metadata.items()}
    assert (metadata["rows_bronze_tweets"], metadata["rows_silver_tweets"], metadata["rows_gold_tweet_sentiment"]) \
        == (6, 5, 5)
    assert metadata["missing_values"]["bronze_tweets"]["lang"] == 4
    assert metadata["missing_values"]["silver_tweets"]["user"] == 1
    assert "| alice   |       3 |" in metadata["top_users"]
    assert metadata["given_vs_predicted_agreement"] == 0.5
    for name in ("missing_values", "text_lengths", "top_terms", "given_vs_predicted"):
        markdown = metadata[f"{name}_plot"]
        prefix = f"![{name}](data:image/png;base64,"
        assert markdown.startswith(prefix)
        assert base64.b64decode(markdown[len(prefix):-1])[:8] == b"\x89PNG\r\n\x1a\n"
    client = tables["mlflow"].client()
    run = client.get_run(metadata["mlflow_run_id"])
    assert run.info.experiment_id == client.get_experiment_by_name(EDA_EXPERIMENT).experiment_id
    assert run.data.metrics["rows_bronze_tweets"] == 6
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"missing_values.png", "text_lengths.png", "top_terms.png", "given_vs_predicted.png",
            "missing_values.csv", "top_users.csv"} <= artifacts
