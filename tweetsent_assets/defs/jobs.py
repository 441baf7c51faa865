"""Jobs: one micro-batch through bronze, silver and gold; a re-score; candidate evaluations.

The jobs that follow the micro-batches, many batches per run, live beside their ops: fold_aggregates
(and the full rebuild, refresh_aggregates) in aggregates.py, verify_batches in checks.py.
"""
from dagster import AssetSelection, define_asset_job, in_process_executor

from .models.candidates import candidate_partitions
from .partitions import tweet_hours
from .resources import BATCH_KIND_TAG

# Per batch, without the checks that compare the aggregates with a full rebuild (those read all of gold).
AGGREGATE_ASSETS = AssetSelection.assets("aggregate_ledger", "mention_sentiment", "sentiment_trends",
                                         "sentiment_spikes", "prediction_drift").without_checks()
BATCH_ASSETS = AssetSelection.assets("bronze_tweets", "bronze_quarantine", "silver_tweets",
                                     "gold_tweet_sentiment").without_checks()

# In-process so every step of a run shares the run's one SparkSession. The landing sensor's requests carry the
# micro-batch tags (one at a time, launched before folds, verifications and evaluations); a backfill of hours does
# not, so it starts beside the stream run instead of waiting for it. The reconciliation checks are left out:
# verify_batches runs them for many hours at once.
MICRO_BATCH_TAGS = {BATCH_KIND_TAG[0]: BATCH_KIND_TAG[1], "dagster/priority": "10"}
ingest_tweet_batch = define_asset_job(
    "ingest_tweet_batch", selection=BATCH_ASSETS, partitions_def=tweet_hours,
    executor_def=in_process_executor,
    description="Micro-batches of landing objects through bronze, silver and gold: the batch its tweetsent/batch "
                "tag names, in that batch's hour partition (without the tag, every batch of the hour: a backfill).",
)
rescore_gold = define_asset_job(
    "rescore_gold", selection=AssetSelection.assets("gold_tweet_sentiment") | AGGREGATE_ASSETS,
    partitions_def=tweet_hours,
    executor_def=in_process_executor,
    description="Re-score gold hour partitions with the current champion (launch as a backfill of a range of hours) "
                "and replace their batches' contribution to the aggregates and prediction_drift; bronze and silver "
                "are left alone. It does not wait for the stream run.",
)
evaluate_candidates = define_asset_job(
    "evaluate_candidates", selection=AssetSelection.assets("model_evaluations"), partitions_def=candidate_partitions,
    executor_def=in_process_executor,
    description="Evaluate one candidate model (one partition per candidate) and register it in MLflow.",
)
