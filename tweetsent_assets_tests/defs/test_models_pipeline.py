"""The model assets on real parts: labeled tweets in Delta, MLflow (sqlite + registry aliases), Dagster.

Labeled data from ../shared/data, a tiny locally built encoder as the fine-tune base (stage 1, then
the cross-fitted stack), the candidates' evaluations (the stack's out of fold, with no eval text in
the training data of the model that scored it), the champion decision with its blocking check, the
alias move, and gold scoring with `models:/tweet-sentiment@champion`.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, RunsFilter, instance_for_test

from tweetsent_assets import settings
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_demo
from tweetsent_assets.lib.insights import drift_tables
from tweetsent_assets.lib.ml.registry import CHAMPION, get_alias_version
from tweetsent_assets.lib.ml.normalise import text_hash
from tweetsent_assets.lib.ml.stacker import TAU_GRID

from ..support import pipeline_resources, shared
from ..tiny_models import build_tiny_roberta

EVAL_ROWS = 300


def run_config(base_model: str) -> dict:
    data = shared("")
    return {"ops": {
        "labeled_tweets": {"config": {"sources": [
            {"path": str(data / "tweeteval_sentiment"), "split": "eval", "limit": EVAL_ROWS},
            {"path": str(data / "airline" / "Tweets.csv"), "split": "train", "limit": 500},
            {"path": str(data / "sentiment140" / "sentiment140_sample_20k.csv"), "split": "train", "limit": 300},
        ], "holdout_fraction": 0.2}},
        "finetuned_sentiment_model": {"config": {"base_model": base_model, "train_size": 300, "val_size": 100,
                                                 "max_epochs": 1, "max_length": 32, "batch_size": 16,
                                                 "folds": 2, "crossfit_epochs": 1, "crossfit_base": "stage1",
                                                 "crossfit_learning_rate": 1e-3, "torch_threads": 1,
                                                 "crossfit_other_rows": 100, "crossfit_other_weight": 0.5,
                                                 "stacker_tau": "oof", "crossfit_pretrain_texts": 40,
                                                 "crossfit_self_train_texts": 30, "crossfit_pseudo_threshold": 0.0}},
    }}
STACKS = ("minilm-xfit-stack", "minilm-xfit-stack-int8")


@pytest.fixture(scope="module")
def models(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("models-pipeline")
    resources = pipeline_resources(root, max_objects_per_batch=5, model_kind="champion")
    mlflow = resources["mlflow"]
    base = build_tiny_roberta(root / "tiny-base")
    saved_models_dir = settings.MODELS_DIR
    settings.MODELS_DIR = str(root / "models")
    with instance_for_test() as instance:
        yield {"defs": build_defs(resources), "instance": instance, "mlflow": mlflow, "root": root,
               "base": str(base), "spark": spark, "lake": resources["lake"]}
    settings.MODELS_DIR = saved_models_dir


def execute(p, assets: list[str], partition: str | None = None, run_config: dict | None = None):
    job = p["defs"].resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey(a) for a in assets})
    return job.execute_in_process(instance=p["instance"], partition_key=partition, run_config=run_config or {},
                                  raise_on_error=False)


def latest_metadata(p, asset: str, partition: str | None = None) -> dict:
    records = p["instance"].fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition] if partition else None),
        limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_labeled_and_finetuned(models):
    result = execute(models, ["labeled_tweets", "finetuned_sentiment_model"], run_config=run_config(models["base"]))
    assert result.success
    labeled = models["spark"].read.format("delta").load(models["lake"].path("labeled_tweets")).toPandas()
    assert (labeled.split == "eval").sum() == EVAL_ROWS
    assert set(labeled.label) == {"negative", "neutral", "positive"}
    assert {"train", "val"} <= set(labeled.split)
    assert (labeled[labeled.split == "eval"].source.str.endswith("tweeteval_sentiment")).all()
    finetune = latest_metadata(models, "finetuned_sentiment_model")
    assert finetune["stage1_stopped_reason"] in ("epochs", "early_stopping")
    assert 0.0 <= finetune["stage1_best_val_macro_recall"] <= 1.0
    assert finetune["stage1_reused"] is False and finetune["stack_reused"] is False
    client = models["mlflow"].client()
    curve = client.get_metric_history(finetune["stage1_mlflow_run_id"], "train_loss")
    assert len(curve) >= 1
    params = client.get_run(finetune["stack_mlflow_run_id"]).data.params
    assert params["folds"] == "2" and params["seed"] == "0" and params["base"] == "stage1"
    assert params["normalisation"].startswith("tweet-norm-v1")
    assert params["stacker_inputs"] == "['transformer', 'vader']" and "tweeteval_sentiment" in params["data_mix"]
    mix = ast.literal_eval(params["data_mix"])
    assert sum(mix["other_rows"].values()) == 100 and mix["other_rows_weight"] == 0.5
    assert params["stacker_tau"] == "oof" and float(params["stacker_tau_fitted"]) in TAU_GRID
    assert params["loss_tau"] == "None" and params["pretrain_texts"] == "40"
    assert sum(mix["pretrain_texts"].values()) == 40
    assert {key.split("/")[0] for key in mix["other_rows"]} == {"Tweets.csv", "sentiment140_sample_20k.csv"}
    assert {key.split("/")[0] for key in mix["other_rows_two_class"]} == {"sentiment140_sample_20k.csv"}
    stack_metrics = client.get_run(finetune["stack_mlflow_run_id"]).data.metrics
    assert 0.0 <= stack_metrics["oof_macro_recall"] <= 1.0 and stack_metrics["training_s"] > 0
    assert stack_metrics["pretrain_s"] > 0 and stack_metrics["pretrain_last_loss"] > 0
    seen = json.loads((Path(finetune["stack_model_path"]) / "training_hashes.json").read_text())
    eval_hashes = {text_hash(t) for t in labeled[labeled.split == "eval"].text}
    assert len(seen["base"]) >= 40 and not set(seen["base"]) & eval_hashes
    assert not (Path(finetune["stack_model_path"]) / "pretrained").exists()
    recipe = json.loads((Path(finetune["stack_model_path"]) / "recipe.json").read_text())
    assert sum(recipe["data_mix"]["self_train_texts"].values()) == 30 and recipe["pseudo_threshold"] == 0.0
    assert all(0 < recipe["pseudo_rows"][model] <= 30 for model in ("fold-0", "fold-1", "final"))


def test_unchanged_rows_and_recipe_reuse_the_models_a_new_recipe_retrains(models):
    config = run_config(models["base"])
    assert execute(models, ["labeled_tweets", "finetuned_sentiment_model"], run_config=config).success
    again = latest_metadata(models, "finetuned_sentiment_model")
    assert again["stage1_reused"] is True and again["stack_reused"] is True
    config["ops"]["finetuned_sentiment_model"]["config"]["stacker_inputs"] = ["transformer"]
    assert execute(models, ["finetuned_sentiment_model"], run_config=config).success
    changed = latest_metadata(models, "finetuned_sentiment_model")
    assert changed["stage1_reused"] is True and changed["stack_reused"] is False
    assert changed["stack_fingerprint"] != again["stack_fingerprint"]
    assert execute(models, ["finetuned_sentiment_model"], run_config=run_config(models["base"])).success
    assert latest_metadata(models, "finetuned_sentiment_model")["stack_reused"] is False
    config["ops"]["finetuned_sentiment_model"]["config"]["stacker_tau"] = "auto"
    failed = execute(models, ["finetuned_sentiment_model"], run_config=config)
    assert not failed.success and "'auto'" in str(failed.all_events)


def test_evaluations_register_available_and_record_unavailable(models):
    for name in ("vader", "minilm-finetuned", "twitter-roberta"):
        assert execute(models, ["model_evaluations"], partition=name).success, name
    vader = latest_metadata(models, "model_evaluations", "vader")
    assert vader["available"] is True and vader["registered_version"] == "1"
    assert 0.4 < vader["macro_recall"] < 0.8 and vader["tweets_per_s"] > 0
    assert vader["confusion_matrix"].startswith("![confusion_matrix](data:image/png;base64,")
    finetuned = latest_metadata(models, "model_evaluations", "minilm-finetuned")
    assert finetuned["available"] is True and finetuned["registered_version"] == "2"
    assert finetuned["eval_texts_seen_in_training"] == 0
    card = models["mlflow"].client().get_model_version("tweet-sentiment", "2").description
    assert "### minilm-finetuned (finetuned)" in card
    assert "(held out, 300 tweets, eval texts seen in training: 0)" in card
    assert "- train: 300 rows (Tweets.csv (train): " in card and "sentiment140_sample_20k.csv (train): " in card
    assert f"macro recall {finetuned['macro_recall']:.3f} [{finetuned['macro_recall_ci_low']:.3f}, " in card
    vader_card = models["mlflow"].client().get_model_version("tweet-sentiment", "1").description
    assert "nothing in this project" in vader_card and f"{vader['tweets_per_s']:.0f} tweets/s" in vader_card
    roberta = latest_metadata(models, "model_evaluations", "twitter-roberta")
    assert roberta["available"] is False
    assert "cardiffnlp/twitter-roberta-base-sentiment-latest" in roberta["reason"]
    assert vader["macro_recall_ci_low"] < vader["macro_recall"] < vader["macro_recall_ci_high"]
    client = models["mlflow"].client()
    run = client.get_run(vader["mlflow_run_id"])
    assert run.data.params["dataset_version"] == str(vader["dataset_version"])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"confusion_matrix.png", "predictions.csv"}


def test_stack_is_evaluated_out_of_fold_on_texts_its_models_never_saw(models, tmp_path):
    from tweetsent_assets.lib.ml.normalise import text_hash

    for name in STACKS:
        assert execute(models, ["model_evaluations"], partition=name).success, name
    labeled = models["spark"].read.format("delta").load(models["lake"].path("labeled_tweets")).toPandas()
    eval_hashes = [text_hash(t) for t in labeled[labeled.split == "eval"].sort_values("text").text]
    folder = Path(settings.MODELS_DIR).resolve() / "minilm-xfit-stack"
    seen = {k: set(v) for k, v in json.loads((folder / "training_hashes.json").read_text()).items()}
    oof = pd.read_csv(folder / "oof.csv")
    fold_of = dict(zip(oof.text_hash, oof.fold))
    assert len(seen["base"]) > 300 and not seen["base"] & set(eval_hashes)
    assert set(fold_of) == set(eval_hashes)
    assert sum(h in seen[f"fold-{fold_of[h]}"] for h in eval_hashes) == 0
    assert sum(h in seen["final"] for h in eval_hashes) == len(eval_hashes)
    client = models["mlflow"].client()
    for name in STACKS:
        meta = latest_metadata(models, "model_evaluations", name)
        assert meta["available"] is True, meta.get("reason")
        assert meta["eval_texts_seen_in_training"] == 0 and meta["n"] == EVAL_ROWS
        run = client.get_run(meta["mlflow_run_id"])
        assert run.data.tags["evaluation"] == "out-of-fold" and run.data.params["recipe_folds"] == "2"
        card = client.get_model_version("tweet-sentiment", meta["registered_version"]).description
        assert "- cross-fitted in-domain (eval, out of fold): 300 rows" in card and "(out of fold, 300 tweets" in card
        predictions = pd.read_csv(client.download_artifacts(run.info.run_id, "predictions.csv", str(tmp_path)))
        oof_file = pd.read_csv(folder / ("oof-int8.csv" if name.endswith("int8") else "oof.csv"))
        by_hash = oof_file.set_index("text_hash")
        expected = by_hash.loc[[text_hash(t) for t in predictions.text]].p_positive.to_numpy()
        assert abs(predictions.p_positive.to_numpy() - expected).max() < 1e-9


def test_first_champion_is_promoted_after_blocking_check(models):
    result = execute(models, ["champion_decision", "champion_model"])
    assert result.success
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [c.event_specific_data.passed for c in checks] == [True]
    decision = latest_metadata(models, "champion_decision")
    assert decision["promote"] is True
    client = models["mlflow"].client()
    assert get_alias_version(client, CHAMPION) == decision["winner_version"]
    assert decision["winner"] in ("vader", "minilm-finetuned", *STACKS)
    baseline = drift_tables.read_baseline(models["spark"], models["lake"].path(drift_tables.BASELINE_TABLE))
    assert baseline.model_version == decision["winner_version"] and baseline.stats["total"] == EVAL_ROWS
    assert latest_metadata(models, "champion_model")["drift_baseline_run"] != "none"


def test_unchanged_evaluations_do_not_move_the_alias(models):
    client = models["mlflow"].client()
    before = get_alias_version(client, CHAMPION)
    for name in ("vader", "minilm-finetuned"):
        assert execute(models, ["model_evaluations"], partition=name).success
    result = execute(models, ["champion_decision", "champion_model"])
    assert result.success
    decision = latest_metadata(models, "champion_decision")
    assert decision["promote"] is False, decision["reason"]
    assert get_alias_version(client, CHAMPION) == before
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.asset_key == AssetKey("champion_model")]


def test_gold_scores_with_the_champion_version(models):
    from tweetsent_assets import runner

    client = models["mlflow"].client()
    champion = get_alias_version(client, CHAMPION)
    landing = models["defs"].resources["landing"].store()
    replay(read_demo(limit=30), landing, tweets_per_object=15, objects_per_second=None)
    outcome = runner.process_new_objects(models["defs"], models["instance"], None)
    assert outcome.failed == [] and len(outcome.batches) == 1
    gold = models["spark"].read.format("delta").load(models["lake"].path("gold_tweet_sentiment")).toPandas()
    assert len(gold) > 0
    assert set(gold.model_version) == {champion}
    champion_name = client.get_model_version("tweet-sentiment", champion).tags["candidate"]
    assert set(gold.model_name) == {champion_name}
    run = models["instance"].get_run_by_id(outcome.run_ids[0])
    pinned = json.loads(run.tags["tweetsent/model_spec"])
    assert (pinned["model"], pinned["version"]) == (f"models:/tweet-sentiment/{champion}", champion)


def test_the_fold_compared_gold_with_the_champions_drift_baseline(models):
    champion = get_alias_version(models["mlflow"].client(), CHAMPION)
    spark, lake = models["spark"], models["lake"]
    gold = spark.read.format("delta").load(lake.path("gold_tweet_sentiment")).toPandas()
    drift = spark.read.format("delta").load(lake.path(drift_tables.DRIFT_TABLE)).toPandas()
    assert set(drift.baseline_version) == {champion} and drift.total.sum() == gold.created_at.notna().sum()
    fold = models["instance"].get_runs(RunsFilter(job_name="fold_aggregates"), limit=1)[0]
    checks = [e.dagster_event.event_specific_data for e in models["instance"].all_logs(
        fold.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
    assert [(c.check_name, c.severity.value) for c in checks] == [("prediction_drift_within_thresholds", "WARN")]
    assert checks[0].passed == (not drift.flagged.any())
    partition = hour_of(gold.batch_id.iloc[0])
    assert latest_metadata(models, "prediction_drift", partition)["baseline_version"] == champion
    assert execute(models, ["prediction_drift"], partition=partition).success
    again = spark.read.format("delta").load(lake.path(drift_tables.DRIFT_TABLE)).toPandas()
    assert comparable(again).equals(comparable(drift))


def comparable(rows: pd.DataFrame) -> pd.DataFrame:
    """Drift rows in window order, metrics lists as text, without the stats version they were computed from."""
    rows = rows.drop(columns="ledger_version").sort_values("window_start").reset_index(drop=True)
    return rows.assign(flagged_metrics=rows["flagged_metrics"].map(", ".join))


HELDOUT_TRAIN_ROWS, STACKER_ROWS, HELDOUT_EVAL_ROWS = 400, 100, 150


def heldout_config(base_model: str, train_folder: str) -> dict:
    data = shared("")
    return {"ops": {
        "labeled_tweets": {"config": {"sources": [
            {"path": str(data / "tweeteval_sentiment"), "split": "eval", "limit": HELDOUT_EVAL_ROWS},
            {"path": train_folder, "split": "train", "tweeteval_split": "train", "limit": HELDOUT_TRAIN_ROWS,
             "optional": True},
        ], "holdout_fraction": 0.1, "active_learning_dir": None}},
        "finetuned_sentiment_model": {"config": {"base_model": base_model, "val_size": 100, "max_epochs": 1,
                                                 "max_length": 32, "batch_size": 16, "eval_every_steps": 10,
                                                 "time_budget_s": 120, "torch_threads": 1,
                                                 "stacker_rows": STACKER_ROWS}},
    }}


@pytest.fixture(scope="module")
def heldout(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("models-heldout")
    resources = pipeline_resources(root, model_kind="champion")
    saved_models_dir = settings.MODELS_DIR
    settings.MODELS_DIR = str(root / "models")
    with instance_for_test() as instance:
        yield {"defs": build_defs(resources), "instance": instance, "mlflow": resources["mlflow"], "root": root,
               "base": str(build_tiny_roberta(root / "tiny-base")), "spark": spark, "lake": resources["lake"]}
    settings.MODELS_DIR = saved_models_dir


def test_heldout_protocol_trains_on_the_training_split_and_keeps_val_for_selection(heldout):
    config = heldout_config(heldout["base"], str(shared("tweeteval_sentiment")))
    result = execute(heldout, ["labeled_tweets", "finetuned_sentiment_model"], run_config=config)
    assert result.success
    labeled = heldout["spark"].read.format("delta").load(heldout["lake"].path("labeled_tweets")).toPandas()
    assert (labeled.split == "eval").sum() == HELDOUT_EVAL_ROWS
    assert (labeled.split != "eval").sum() == HELDOUT_TRAIN_ROWS and (labeled.split == "val").sum() > 0
    meta = latest_metadata(heldout, "finetuned_sentiment_model")
    assert meta["protocol"] == "heldout" and meta["stack_stacker_rows"] == STACKER_ROWS
    stage1_seen = set(json.loads((Path(meta["stage1_model_path"]) / "training_hashes.json").read_text())["final"])
    stack_seen = json.loads((Path(meta["stack_model_path"]) / "training_hashes.json").read_text())
    eval_hashes = {text_hash(t) for t in labeled[labeled.split == "eval"].text}
    train_hashes = {text_hash(t) for t in labeled[labeled.split != "eval"].text}
    assert len(stack_seen["stacker"]) == STACKER_ROWS and not set(stack_seen["stacker"]) & stage1_seen
    assert set(stack_seen["final"]) == stage1_seen and stage1_seen | set(stack_seen["stacker"]) == train_hashes
    assert not train_hashes & eval_hashes
    client = heldout["mlflow"].client()
    for name in ("minilm-finetuned", *STACKS):
        assert execute(heldout, ["model_evaluations"], partition=name).success, name
        evaluation = latest_metadata(heldout, "model_evaluations", name)
        assert evaluation["available"] is True, evaluation.get("reason")
        assert evaluation["eval_texts_seen_in_training"] == 0 and evaluation["n"] == HELDOUT_EVAL_ROWS
        assert client.get_run(evaluation["mlflow_run_id"]).data.tags["evaluation"] == "held-out"
        card = client.get_model_version("tweet-sentiment", evaluation["registered_version"]).description
        assert f"(held out, {HELDOUT_EVAL_ROWS} tweets, eval texts seen in training: 0)" in card
        assert "tweeteval_sentiment (train)" in card and "tweeteval_sentiment (train, early-stopping slice)" in card
    card = client.get_model_version("tweet-sentiment", evaluation["registered_version"]).description
    assert f"- stacker (held out of the encoder): {STACKER_ROWS} rows" in card and "int8 encoder" in card
    assert '"protocol": "heldout"' in card
    assert execute(heldout, ["champion_decision", "champion_model"]).success
    assert get_alias_version(client, CHAMPION) is not None


def test_a_bad_training_split_fails_labeled_tweets_and_registers_nothing(heldout, tmp_path):
    client = heldout["mlflow"].client()
    versions = len(client.search_model_versions("name='tweet-sentiment'"))
    bad = tmp_path / "tweeteval_bad"
    bad.mkdir()
    (bad / "mapping.txt").write_text("0 negative\n1 neutral\n2 positive\n")
    (bad / "train_text.txt").write_text("one \ntwo \nthree \n")
    (bad / "train_labels.txt").write_text("2\n1\n")
    config = heldout_config(heldout["base"], str(bad))
    result = execute(heldout, ["labeled_tweets", "finetuned_sentiment_model"], run_config=config)
    assert not result.success
    failure = str(result.all_events)
    assert "tweeteval_bad/train_text.txt:3: no matching line in" in failure and "train_labels.txt" in failure
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    (bad / "train_labels.txt").write_text("2\n1\n9\n")
    failed = execute(heldout, ["labeled_tweets"], run_config=config)
    assert not failed.success and "train_labels.txt:3: label '9' is not in mapping.txt" in str(failed.all_events)
    assert len(client.search_model_versions("name='tweet-sentiment'")) == versions


def test_a_folder_without_the_training_split_keeps_the_old_recipe_and_says_what_is_missing(heldout, tmp_path):
    only_val = tmp_path / "tweeteval_val_only"
    only_val.mkdir()
    result = execute(heldout, ["labeled_tweets"], run_config=heldout_config(heldout["base"], str(only_val)))
    assert result.success
    messages = [entry.user_message for entry in heldout["instance"].all_logs(result.run_id)]
    missing = [m for m in messages if m.startswith("skipping optional source")]
    assert missing == [f"skipping optional source {only_val} (train): missing {only_val}/mapping.txt, "
                       f"{only_val}/train_text.txt, {only_val}/train_labels.txt; the models train without it "
                       "(the old recipe)"]
    labeled = heldout["spark"].read.format("delta").load(heldout["lake"].path("labeled_tweets")).toPandas()
    assert set(labeled.split) == {"eval"}
