"""The project's one Definitions object: assets, jobs, sensors and resources."""
import warnings

from dagster import BetaWarning, Definitions, in_process_executor

from . import settings
from .defs.active_learning import active_learning_queue
from .defs.aggregates import AGGREGATE_CHECKS, aggregates, fold_aggregates, refresh_aggregates, verify_aggregates
from .defs.bronze import bronze
from .defs.checks import batch_checks, challenger_loads_and_predicts, verify_batches
from .defs.drift import DRIFT_CHECKS, prediction_drift
from .defs.eda import tweet_eda
from .defs.gold import gold_tweet_sentiment
from .defs.jobs import evaluate_candidates, ingest_tweet_batch, rescore_gold
from .defs.maintenance import compact_lake, compact_lake_schedule
from .defs.models.decision import champion_decision, champion_model
from .defs.models.evaluation import model_evaluations
from .defs.models.labeled import labeled_tweets
from .defs.models.training import finetuned_sentiment_model
from .defs.resources import (
    LakeResource,
    MicroBatchResource,
    MlflowResource,
    ObjectStoreResource,
    SentimentModelResource,
    SparkResource,
)
from .defs.schedules import nightly_model_evaluation
from .defs.sensors import fold_after_gold, follow_upstream, new_tweet_objects, verify_after_gold
from .defs.silver import silver_tweets
from .defs.stream import stream_tweet_batches

# Dagster 1.13 passes `owners` itself when it binds a sensor to its jobs, and warns about its own call.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition", category=BetaWarning)


def default_resources() -> dict:
    """Resources configured from the environment (see settings.py for each variable's default)."""
    return {
        "spark": SparkResource(),
        "landing": ObjectStoreResource(url=settings.LANDING_URL),
        "batch_state": ObjectStoreResource(url=settings.STATE_URL),
        "micro_batching": MicroBatchResource(),
        "lake": LakeResource(),
        "sentiment_model": SentimentModelResource(),
        "mlflow": MlflowResource(),
    }


def build_defs(resources: dict) -> Definitions:
    """All definitions bound to `resources` (tests and benchmarks pass their own)."""
    return Definitions(
        assets=[bronze, silver_tweets, gold_tweet_sentiment, aggregates, prediction_drift, tweet_eda, active_learning_queue,
                labeled_tweets, finetuned_sentiment_model, model_evaluations, champion_decision, champion_model],
        asset_checks=[challenger_loads_and_predicts, *batch_checks, *AGGREGATE_CHECKS, *DRIFT_CHECKS],
        jobs=[ingest_tweet_batch, stream_tweet_batches, fold_aggregates, verify_batches, refresh_aggregates, verify_aggregates, rescore_gold,
              evaluate_candidates, compact_lake],
        sensors=[new_tweet_objects, fold_after_gold, verify_after_gold, follow_upstream],
        schedules=[nightly_model_evaluation, compact_lake_schedule],
        resources=resources,
        executor=in_process_executor,
    )


defs = build_defs(default_resources())
