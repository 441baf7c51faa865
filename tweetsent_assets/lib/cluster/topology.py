"""The whole scale-out topology on one machine: PostgreSQL, an S3 API, a Spark standalone cluster, the Connect server.

`up` starts what is not running, in dependency order, and writes the variables that point Dagster,
MLflow and the pipeline at it (cluster.env); `down` stops everything in reverse order and keeps the
data (PostgreSQL's folder, S3Proxy's objects), so a later `up` finds the same lake and registry.
Each part is the process a real deployment runs, bound to 127.0.0.1; only the addresses would change.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..lake import connect_server
from . import champion, postgres, s3_server, standalone

PROJECT_ROOT = Path(__file__).resolve().parents[3]
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "tweetsent-local", "AWS_SECRET_ACCESS_KEY": "tweetsent-local",
                     "AWS_REGION": "us-east-1"}


@dataclass(frozen=True)
class Topology:
    """Where every part listens and keeps its state (all under `root`)."""

    root: Path
    bucket: str = "tweetsent"
    ports: dict = field(default_factory=lambda: {"postgres": 5433, "s3": 9000, "master": 7077, "master_ui": 8080,
                                                 "connect": 15012})
    workers: int = 2
    s3_kind: str = "s3proxy"

    @property
    def postgres(self) -> postgres.PostgresServer:
        return postgres.PostgresServer(root=self.root / "postgres", port=self.ports["postgres"])

    @property
    def s3(self) -> s3_server.S3Server:
        keys = self.credentials()
        return s3_server.S3Server(state_dir=self.root / "s3", port=self.ports["s3"], kind=self.s3_kind,
                                  access_key=keys["AWS_ACCESS_KEY_ID"], secret_key=keys["AWS_SECRET_ACCESS_KEY"])

    @property
    def spark(self) -> standalone.StandaloneCluster:
        return standalone.StandaloneCluster(state_dir=self.root / "spark", port=self.ports["master"],
                                            ui_port=self.ports["master_ui"], workers=self.workers)

    @property
    def connect(self) -> connect_server.ConnectServer:
        return connect_server.ConnectServer(state_dir=self.root / "spark-connect", port=self.ports["connect"],
                                            master=self.spark.url, conf=self.spark.connect_conf())

    @property
    def env_file(self) -> Path:
        return self.root / "cluster.env"

    def credentials(self) -> dict[str, str]:
        """The AWS keys and region every client uses (and S3Proxy accepts): the environment's, else local ones."""
        return {k: os.environ.get(k) or v for k, v in LOCAL_CREDENTIALS.items()}

    def environment(self) -> dict[str, str]:
        """What Dagster (cluster/dagster.yaml), MLflow and the pipeline read to run on this topology."""
        return {
            **self.postgres.environment(), **self.credentials(), **self.s3.environment(),
            "DAGSTER_HOME": str(PROJECT_ROOT / "cluster"),
            "TWEETSENT_DAGSTER_DIR": str((self.root / "dagster").resolve()),
            "TWEETSENT_MLFLOW_ARTIFACTS": f"s3://{self.bucket}/mlflow",
            "TWEETSENT_LANDING_URL": f"s3://{self.bucket}/landing",
            "TWEETSENT_STATE_URL": f"s3://{self.bucket}/state",
            "TWEETSENT_LAKE_ROOT": f"s3a://{self.bucket}/lake",
            "TWEETSENT_S3A": "on",
            "TWEETSENT_SPARK_MASTER": self.connect.url,
            "TWEETSENT_SPARK_CONNECT_DIR": str(self.connect.state_dir.resolve()),
            "TWEETSENT_CONCURRENT_BATCHES": "2",
        }


def up(topology: Topology, progress: Callable[[str], None] = print,
       champion_from: str | None = None) -> dict[str, str]:
    """Start PostgreSQL, the S3 API (with the bucket), the master and workers, then the Connect server on them.

    With `champion_from` (an MLflow tracking URI, the local one for `tweetsent cluster up`), its
    champion is copied into the topology's registry unless it is there already.
    """
    environment = topology.environment()
    progress(f"PostgreSQL: {postgres.start(topology.postgres)['address']}")
    s3_server.start(topology.s3)
    os.environ.update(environment)
    created = s3_server.ensure_bucket(topology.s3.endpoint, topology.bucket)
    kept = f"objects in {topology.s3.objects_dir}" if topology.s3.persistent else "objects in memory"
    progress(f"S3 API ({topology.s3.kind}, {kept}): {topology.s3.endpoint}, bucket {topology.bucket}"
             f"{' created' if created else ''}")
    view = standalone.start(topology.spark)
    progress(f"Spark master {topology.spark.url}: {view['alive_workers']} workers, {view['cores']} cores "
             f"(UI {view['ui']})")
    connect_server.start(topology.connect)
    progress(f"Spark Connect server {topology.connect.url} on {topology.spark.url}")
    topology.env_file.write_text("".join(f"export {k}={v}\n" for k, v in environment.items()))
    progress(f"settings: {topology.env_file} (set -a; . {topology.env_file})")
    if champion_from:
        champion.bring_champion(environment, champion_from, progress=progress)
    return environment


def down(topology: Topology, progress: Callable[[str], None] = print) -> None:
    """Stop everything `up` started, in reverse order; PostgreSQL's data and S3Proxy's objects stay on disk."""
    progress(f"Spark Connect server: {'stopped' if connect_server.stop(topology.connect) else 'was not running'}")
    stopped = standalone.stop(topology.spark)
    progress(f"Spark cluster: {', '.join(stopped) + ' stopped' if stopped else 'was not running'}")
    progress(f"S3 API: {'stopped' if s3_server.stop(topology.s3) else 'was not running'}")
    progress(f"PostgreSQL: {'stopped' if postgres.stop(topology.postgres) else 'was not running'}")


def status(topology: Topology) -> dict:
    return {"postgres": postgres.status(topology.postgres), "s3": s3_server.status(topology.s3),
            "spark": standalone.status(topology.spark), "connect": connect_server.status(topology.connect)}
