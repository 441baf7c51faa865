"""Dagster resources: the Spark session, object stores, the Delta lake, the sentiment model, MLflow."""
from __future__ import annotations

import importlib
import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Literal, Optional

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from .. import settings
from ..lib.ingest.object_store import ObjectStore, open_store
from ..lib.lake import delta_tables, s3a
from ..lib.ml.models.types import DEFAULT_BATCH_SIZE, ModelSpec


class SparkResource(ConfigurableResource):
    """One Delta-enabled SparkSession per process, shared by every asset the run executes.

    `master` alone picks the engine: `sc://host:port` attaches to a long-lived Spark Connect
    server (`tweetsent spark start`, `make dev`) on one of `connect_slots` pooled sessions;
    anything else starts Spark in this process. Replaces dagster-pyspark's PySparkResource,
    which builds a classic session only (no Connect) and cannot add Delta's jars before it exists.
    """

    master: str = Field(default=settings.SPARK_MASTER,
                        description="sc://127.0.0.1:15002 (Spark Connect), local[*], spark://host:7077, yarn, k8s://…")
    app_name: str = "tweetsent"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra spark.* settings (in-process only).")
    connect_slots: int = Field(default=settings.SPARK_SESSION_SLOTS, ge=1,
                               description="Pooled Connect session ids: at most this many runs share the server at once")
    state_dir: str = Field(default=settings.SPARK_CONNECT_DIR,
                           description="Connect server state, log and slot locks")

    _stage_tag: Optional[str] = PrivateAttr(default=None)

    def session(self):
        from ..lib.lake.spark_session import get_spark

        session = get_spark(self.master, self.app_name, self.conf, self.connect_slots, self.state_dir)
        if self._stage_tag is not None and self._stage_tag not in session.getTags():
            session.addTag(self._stage_tag)
        return session

    def watch_stages(self, step: str) -> None:
        """Tag the Spark operations this thread starts from now on as `step`'s, for stage_metadata."""
        from ..lib.lake.stage_metrics import new_tag

        self._untag()
        self._stage_tag = new_tag(step)
        if self._started():
            self.session()  # tags the session now; one made later is tagged when it is made

    def stage_metadata(self) -> dict:
        """Stop tagging; the tagged stages' spilled bytes and task skew ({} when the driver's UI cannot tell)."""
        from ..lib.lake import stage_metrics

        tag = self._untag()
        if tag is None:
            return {}
        report = stage_metrics.session_report(self.session(), tag)
        return report.metadata() if report is not None else {}

    def _untag(self) -> Optional[str]:
        """Stop tagging; the tag, or None when there was none or no session was made to carry it."""
        tag, self._stage_tag = self._stage_tag, None
        if tag is None or not self._started():
            return None
        self.session().removeTag(tag)
        return tag

    @staticmethod
    def _started() -> bool:
        from ..lib.lake.spark_session import served_by

        return served_by() is not None

    def metadata(self) -> dict:
        """Which Spark served this run, for every materialization's metadata."""
        from ..lib.lake.spark_session import served_by

        served = served_by()
        return served.metadata() if served is not None else {"spark": f"not started ({self.master})"}


class ObjectStoreResource(ConfigurableResource):
    """S3 (AWS, MinIO, moto) through boto3 and its standard credential chain, or a local folder.

    `url` is `s3://bucket/prefix` or a folder path; credentials are never part of the config.
    """

    url: str = Field(description="s3://bucket/prefix, or a local folder")
    endpoint_url: Optional[str] = Field(default=os.environ.get("AWS_ENDPOINT_URL") or None,
                                        description="S3 endpoint for MinIO or moto; empty for AWS")
    region: Optional[str] = Field(default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None)

    def store(self) -> ObjectStore:
        return open_store(self.url, endpoint_url=self.endpoint_url, region=self.region)


# The run tag of micro-batch runs, which the run coordinator's tag_concurrency_limits count.
BATCH_KIND_TAG = ("tweetsent/kind", "micro-batch")


class MicroBatchResource(ConfigurableResource):
    """How the landing sensor cuts new objects into micro-batch runs, and how many may wait (backpressure)."""

    max_objects_per_batch: int = Field(default=settings.MAX_OBJECTS_PER_BATCH, ge=1)
    max_batch_bytes: int = Field(default=settings.MAX_BATCH_BYTES, ge=1,
                                 description="Bytes of landing objects one batch takes at most (one larger object "
                                             "is a batch of its own)")
    max_queued_runs: int = Field(default=settings.MAX_QUEUED_BATCHES, ge=0,
                                 description="Micro-batch runs that may wait behind the running ones (0 or 1); "
                                             "beyond that, new objects wait and the next batch takes all of them. "
                                             "A waiting run's objects are fixed when it is requested, so 0 (the "
                                             "default) makes bigger batches and lower latency under a stream")
    max_batches_per_tick: int = Field(default=100, ge=1)
    driver_rows: int = Field(default=settings.DRIVER_ROWS, ge=0,
                             description="Batches with at most this many rows are cleaned (silver) on the run's "
                                         "driver with pandas, larger ones by the executors; 0 sends every batch to "
                                         "the executors")
    driver_texts: int = Field(default=settings.DRIVER_TEXTS, ge=0,
                              description="In the stream run, a batch with at most this many texts to score is "
                                          "scored in the run's process by the model it keeps loaded (no Spark job); "
                                          "larger ones by the executors. 0 sends every batch to the executors")
    lookback_seconds: int = Field(default=settings.SENSOR_LOOKBACK_S, ge=0,
                                  description="How late an object may appear in a listing and still be picked up")
    mode: Literal["stream", "runs"] = Field(
        default=settings.BATCH_MODE,
        description="stream: one long-lived run takes every new object, batch after batch, in a warm Spark session "
                    "(the sensor starts it when objects wait and none runs); runs: one run per micro-batch")
    concurrent_runs: int = Field(default=settings.CONCURRENT_BATCHES, ge=1,
                                 description="Micro-batch runs that may run at once (the run coordinator's limit); "
                                             "above 1, silver MERGEs new batches so that two batches bringing the "
                                             "same tweet id cannot both insert it")

    def runs_at_once(self, instance) -> int:
        """The larger of concurrent_runs and what the instance's queued run coordinator lets run at once."""
        from dagster._core.run_coordinator import QueuedRunCoordinator

        coordinator = instance.run_coordinator
        if not isinstance(coordinator, QueuedRunCoordinator):
            return self.concurrent_runs
        queue = coordinator.get_run_queue_config()
        limits = [rule.get("limit") for rule in queue.tag_concurrency_limits or []
                  if rule.get("key") == BATCH_KIND_TAG[0] and rule.get("value") == BATCH_KIND_TAG[1]]
        allowed = min(limits) if limits else queue.max_concurrent_runs
        unlimited = allowed is None or allowed < 0
        return max(self.concurrent_runs, 2 if unlimited else allowed)


class LakeResource(ConfigurableResource):
    """Where the Delta tables live: a folder, or s3a://, abfss://, gs:// for a cluster.

    An s3a:// root is checked when a run starts (its bucket must answer within seconds) and asks
    for s3a in the run's in-process Spark; a Connect server gets s3a from TWEETSENT_LAKE_ROOT or TWEETSENT_S3A.
    """

    root: str = Field(default=settings.LAKE_ROOT)

    def setup_for_execution(self, context) -> None:
        if self.root.startswith("s3a://"):
            s3a.check_bucket(self.root)
            s3a.request(self.root)

    def path(self, table: str) -> str:
        root = self.root if "://" in self.root else os.path.abspath(self.root)
        return delta_tables.table_path(root, table)


# The run tag with the champion's spec, pinned by the landing sensor when it requests the run.
PINNED_MODEL_TAG = "tweetsent/model_spec"


class SentimentModelResource(ConfigurableResource):
    """Which model scores gold: the registry's `champion` (default), `vader`, or `hf` (hub id or folder).

    With kind `champion` the alias is resolved to a pinned `models:/…/<version>` URI, which the
    executors load themselves: by the landing sensor when it requests a micro-batch run (the run
    tag PINNED_MODEL_TAG), else once per run. Until a champion exists, VADER scores.
    """

    kind: str = Field(default=settings.MODEL_KIND, description="champion, vader or hf")
    model: str = Field(default=settings.MODEL, description="Hugging Face model id or local path (kind=hf)")
    max_length: int = 128
    batch_size: int = DEFAULT_BATCH_SIZE
    _pinned: Optional[ModelSpec] = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        """Take the spec the sensor pinned; without one, import the MLflow client in the background.

        A micro-batch run with a pinned spec never imports mlflow (a second or two of CPU). Without
        one, gold resolves the alias only after bronze and silver, so the import overlaps their work.
        """
        tags = context.run.tags if context.run is not None else {}
        if self.kind == "champion" and tags.get(PINNED_MODEL_TAG):
            self._pinned = ModelSpec(**json.loads(tags[PINNED_MODEL_TAG]))
        elif self.kind == "champion":
            threading.Thread(target=importlib.import_module, args=("tweetsent_assets.lib.ml.registry",),
                             name="tweetsent-import-registry", daemon=True).start()

    def pinned_tag(self, mlflow: "MlflowResource") -> dict[str, str]:
        """The run tag pinning the current champion (none for other kinds, or before a champion exists)."""
        if self.kind != "champion":
            return {}
        spec = self.spec(mlflow)
        if spec.kind == "vader" or _has_password(spec.tracking_uri):
            return {}
        return {PINNED_MODEL_TAG: json.dumps(asdict(spec), sort_keys=True)}

    def spec(self, mlflow: "MlflowResource | None" = None) -> ModelSpec:
        """The pinned spec, else the current one."""
        return self._pinned if self._pinned is not None else self.current_spec(mlflow)

    def current_spec(self, mlflow: "MlflowResource | None" = None) -> ModelSpec:
        """The model that scores now: the champion's version as the registry has it at this moment (no pin)."""
        if self.kind == "champion":
            from ..lib.ml.registry import champion_spec

            if mlflow is None:
                raise ValueError("kind 'champion' needs the mlflow resource to resolve the alias")
            found = champion_spec(mlflow.client(), mlflow.tracking_uri)
            if found is not None:
                return found
        if self.kind in ("vader", "champion"):
            return ModelSpec(kind="vader", model=None, name="vader", version="3.3.2",
                             max_length=self.max_length, batch_size=self.batch_size)
        name = os.path.basename(self.model.rstrip("/")) if os.path.isdir(self.model) else self.model
        return ModelSpec(kind=self.kind, model=self.model, name=name,
                         max_length=self.max_length, batch_size=self.batch_size)


def _has_password(uri: str | None) -> bool:
    """Whether a store URI carries a password (kept out of run tags, which the UI shows)."""
    from urllib.parse import urlsplit

    return bool(uri and "://" in uri and urlsplit(uri).password)


class MlflowResource(ConfigurableResource):
    """An MlflowClient on a tracking store and registry (sqlite by default, no server needed).

    Replaces dagster-mlflow's beta `mlflow_tracking` resource, whose global run stays open
    unless a hook closes it; runs here are created and ended explicitly through the client.
    A postgresql:// store is checked first, so a server that is down fails within seconds
    naming host:port (MLflow itself retries for minutes); artifacts may be on s3:// (the
    endpoint from MLFLOW_S3_ENDPOINT_URL or AWS_ENDPOINT_URL).
    """

    tracking_uri: str = Field(default=settings.MLFLOW_TRACKING_URI,
                              description="sqlite:///file.db, or postgresql://user@host:port/db (password via PGPASSFILE)")
    artifact_root: str = Field(default=settings.MLFLOW_ARTIFACT_ROOT,
                               description="Artifact location for experiments this project creates (folder or s3://)")

    def client(self):
        from mlflow.tracking import MlflowClient

        from ..lib.cluster.postgres import store_uri

        uri = store_uri(self.tracking_uri, settings.POSTGRES_CONNECT_TIMEOUT_S)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def experiment_id(self, name: str) -> str:
        """The experiment's id, creating it (with artifacts under artifact_root) if needed."""
        client = self.client()
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = self.artifact_root if "://" in self.artifact_root else os.path.abspath(self.artifact_root)
        uri = location if "://" in location else Path(location).as_uri()
        return client.create_experiment(name, artifact_location=f"{uri.rstrip('/')}/{name}")
