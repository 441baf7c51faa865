"""Defaults for every setting, each overridable by an environment variable (documented in docs/configuration.md)."""
from __future__ import annotations

import json
import os

from .lib.ml.models.types import DEFAULT_HF_MODEL


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def _env_number(name: str, default, kind, what: str):
    raw = env(name, str(default))
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be {what}") from None


DATA_DIR = env("TWEETSENT_DATA_DIR", "data")
LANDING_URL = env("TWEETSENT_LANDING_URL", os.path.join(DATA_DIR, "landing"))
STATE_URL = env("TWEETSENT_STATE_URL", os.path.join(DATA_DIR, "state"))
LAKE_ROOT = env("TWEETSENT_LAKE_ROOT", os.path.join(DATA_DIR, "lake"))
MLFLOW_ARTIFACT_ROOT = env("TWEETSENT_MLFLOW_ARTIFACTS", os.path.abspath(os.path.join(DATA_DIR, "mlflow-artifacts")))
MODELS_DIR = env("TWEETSENT_MODELS_DIR", os.path.join(DATA_DIR, "models"))
LABELED_DATA_DIR = env("TWEETSENT_LABELED_DATA_DIR", env("TWEETSENT_SHARED_DATA", "../shared/data"))
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", f"sqlite:///{os.path.abspath(os.path.join(DATA_DIR, 'mlflow.db'))}")
POSTGRES_DIR = env("TWEETSENT_POSTGRES_DIR", os.path.join(DATA_DIR, "postgres"))
POSTGRES_PORT = env_int("TWEETSENT_POSTGRES_PORT", 5433)
POSTGRES_USER = env("TWEETSENT_POSTGRES_USER", "tweetsent")
POSTGRES_BIN = env("TWEETSENT_POSTGRES_BIN", "")
POSTGRES_CONNECT_TIMEOUT_S = env_int("TWEETSENT_POSTGRES_CONNECT_TIMEOUT_S", 3)
CLUSTER_DIR = env("TWEETSENT_CLUSTER_DIR", os.path.join(DATA_DIR, "cluster"))
CLUSTER_BUCKET = env("TWEETSENT_CLUSTER_BUCKET", "tweetsent")
S3_PORT = env_int("TWEETSENT_S3_PORT", 9000)
S3_SERVER = env("TWEETSENT_S3_SERVER", "s3proxy")
SPARK_MASTER_PORT = env_int("TWEETSENT_SPARK_MASTER_PORT", 7077)
SPARK_MASTER_UI_PORT = env_int("TWEETSENT_SPARK_MASTER_UI_PORT", 8080)
SPARK_WORKERS = env_int("TWEETSENT_SPARK_WORKERS", 2)
CLUSTER_CONNECT_PORT = env_int("TWEETSENT_CLUSTER_CONNECT_PORT", 15012)
SPARK_MASTER = env("TWEETSENT_SPARK_MASTER", "local[*]")
SPARK_CONNECT_DIR = env("TWEETSENT_SPARK_CONNECT_DIR", os.path.join(DATA_DIR, "spark-connect"))
SPARK_CONNECT_PORT = env_int("TWEETSENT_SPARK_CONNECT_PORT", 15002)
SPARK_CONNECT_MASTER = env("TWEETSENT_SPARK_CONNECT_MASTER", "local[*]")
SPARK_SESSION_SLOTS = env_int("TWEETSENT_SPARK_SESSION_SLOTS", 4)
MODEL_KIND = env("TWEETSENT_MODEL_KIND", "champion")
SERVE_PORT = env_int("TWEETSENT_SERVE_PORT", 5050)
SERVE_MAX_BATCH = env_int("TWEETSENT_SERVE_MAX_BATCH", 512)
SERVE_POLL_S = env_int("TWEETSENT_SERVE_POLL_S", 5)
SERVE_START_TIMEOUT_S = env_int("TWEETSENT_SERVE_START_TIMEOUT_S", 180)
SERVE_LOG_DIR = env("TWEETSENT_SERVE_LOG_DIR", os.path.join(DATA_DIR, "serve"))
MODEL = env("TWEETSENT_MODEL", DEFAULT_HF_MODEL)
MAX_OBJECTS_PER_BATCH = env_int("TWEETSENT_MAX_OBJECTS_PER_BATCH", 1000)
MAX_BATCH_BYTES = env_int("TWEETSENT_MAX_BATCH_BYTES", 4 * 1024 * 1024)
MAX_QUEUED_BATCHES = env_int("TWEETSENT_MAX_QUEUED_BATCHES", 0)
CONCURRENT_BATCHES = env_int("TWEETSENT_CONCURRENT_BATCHES", 1)
DRIVER_ROWS = env_int("TWEETSENT_DRIVER_ROWS", 20_000)
DRIVER_TEXTS = env_int("TWEETSENT_DRIVER_TEXTS", 1_000)
# stream (one long-lived run per stream of objects) or runs (one run per micro-batch); see docs/real-time.md.
BATCH_MODE = env("TWEETSENT_BATCH_MODE", "stream")
# The stream run lists landing every STREAM_POLL_S while idle, ends after STREAM_IDLE_S without new objects (0: never,
# and the sensor starts it before objects land), and after STREAM_MAX_S in all (the sensor then starts the next one,
# which runs the current code).
STREAM_POLL_S = env_float("TWEETSENT_STREAM_POLL_S", 0.5)
STREAM_IDLE_S = env_float("TWEETSENT_STREAM_IDLE_S", 0)
# After a stream run fails, the sensor leaves its restart to run retries for this long.
STREAM_RESTART_AFTER_S = env_float("TWEETSENT_STREAM_RESTART_AFTER_S", 60)
STREAM_MAX_S = env_float("TWEETSENT_STREAM_MAX_S", 3600)
# The stream lists landing from its last key, and the whole prefix every FULL_LIST_S (0: on every poll), so keys
# written out of lexical order are still taken; at most two thirds of SENSOR_LOOKBACK_S.
FULL_LIST_S = env_float("TWEETSENT_FULL_LIST_S", 600)
# The stream records each layer's materialization of the current hour at most this often (and when an hour ends),
# with the figures of every batch since the last one.
STREAM_REPORT_S = env_float("TWEETSENT_STREAM_REPORT_S", 300)
# The first hour partition (UTC, YYYY-MM-DD-HH:MM); batches stamped earlier cannot be given an hour.
PARTITIONS_START = env("TWEETSENT_PARTITIONS_START", "2024-01-01-00:00")
# Below the sensor daemon's fixed 5 s loop, so the sensors tick on every loop (0 would mean 30 s).
SENSOR_INTERVAL_S = env_int("TWEETSENT_SENSOR_INTERVAL_S", 1)
# How often the verification sensor may request a run: each run costs a process and Spark time on the cores the
# micro-batches use, and records 4 check evaluations per hour it verifies, so a stream's hour is verified about
# 4 times (and once more after it ends), not after every report.
FOLLOW_UP_INTERVAL_S = env_int("TWEETSENT_FOLLOW_UP_INTERVAL_S", 900)
# A fold of the aggregates costs 40 to 70 s of the two cores under a stream, so folds come less often than
# verifications: the aggregates lag gold by up to about this long plus a fold.
FOLD_INTERVAL_S = env_int("TWEETSENT_FOLD_INTERVAL_S", 120)
AUTOMATION_INTERVAL_S = env_int("TWEETSENT_AUTOMATION_INTERVAL_S", 30)
SENSOR_LOOKBACK_S = env_int("TWEETSENT_SENSOR_LOOKBACK_S", 900)
TREND_WINDOW = env("TWEETSENT_TREND_WINDOW", "1 hour")
# Where a prediction_drift window counts as drifted (docs/drift.md): limits on the label mix's PSI and
# Jensen-Shannon distance, on KS statistics (confidence, text length), and on shifts of shares.
DRIFT_PSI = env_float("TWEETSENT_DRIFT_PSI", 0.1)
DRIFT_JS = env_float("TWEETSENT_DRIFT_JS", 0.1)
DRIFT_KS = env_float("TWEETSENT_DRIFT_KS", 0.15)
DRIFT_SHARE_SHIFT = env_float("TWEETSENT_DRIFT_SHARE_SHIFT", 0.1)
DRIFT_LOW_CONFIDENCE = env_float("TWEETSENT_DRIFT_LOW_CONFIDENCE", 0.5)
DRIFT_MIN_TWEETS = env_int("TWEETSENT_DRIFT_MIN_TWEETS", 200)
COMPACT_CRON = env("TWEETSENT_COMPACT_CRON", "*/30 * * * *")
COMPACT_MIN_FILES = env_int("TWEETSENT_COMPACT_MIN_FILES", 50)
# The lake on S3 (lib/lake/s3a.py reads these when a session or reader is made, not at import):
# AWS_ENDPOINT_URL is the S3 endpoint of the lake and of landing (MinIO, moto; unset for AWS itself);
# TWEETSENT_S3A is auto (s3a jars and settings when the lake root is s3a://), on or off.


DEFAULT_CANDIDATES = [
    {"name": "vader", "kind": "vader"},
    {"name": "minilm-finetuned", "kind": "finetuned"},
    {"name": "minilm-finetuned-int8", "kind": "finetuned", "from": "minilm-finetuned", "quantize": True},
    {"name": "minilm-xfit-stack", "kind": "stack"},
    {"name": "minilm-xfit-stack-int8", "kind": "stack", "from": "minilm-xfit-stack", "quantize": True},
    {"name": "twitter-roberta", "kind": "hf", "model": "cardiffnlp/twitter-roberta-base-sentiment-latest"},
    {"name": "bertweet", "kind": "hf", "model": "finiteautomata/bertweet-base-sentiment-analysis"},
]


def candidates() -> list[dict]:
    """Candidate models (TWEETSENT_CANDIDATES: a JSON list of {name, kind, model}); names are partitions."""
    raw = env("TWEETSENT_CANDIDATES", "")
    if not raw:
        return DEFAULT_CANDIDATES
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"TWEETSENT_CANDIDATES is not valid JSON: {exc}") from None
    names = [c.get("name") for c in parsed]
    if not parsed or None in names or len(set(names)) != len(names):
        raise ValueError("TWEETSENT_CANDIDATES must be a non-empty list of objects with unique 'name's")
    return parsed
