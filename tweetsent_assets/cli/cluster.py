"""`tweetsent cluster up|down|status|env|copy-champion`: the scale-out topology (PostgreSQL, S3, Spark, Connect)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import settings
from .console import Console


def add_cluster_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cluster", help="bring the scale-out topology up or down, or inspect it",
        description="PostgreSQL (Dagster's instance and MLflow), an S3 API (S3Proxy, or moto) with the lake's bucket, "
                    "a Spark master with workers, and a Spark Connect server on them, all on 127.0.0.1. `up` writes "
                    "the variables to export into <dir>/cluster.env and copies the local champion into the "
                    "topology's registry; `copy-champion` does only the copy. `down` keeps the data.")
    parser.add_argument("action", choices=["up", "down", "status", "env", "copy-champion"])
    parser.add_argument("--dir", default=settings.CLUSTER_DIR, help="state and logs (default $TWEETSENT_CLUSTER_DIR "
                                                                    "or data/cluster)")
    parser.add_argument("--workers", type=int, default=settings.SPARK_WORKERS, help="Spark workers (default 2)")
    parser.add_argument("--s3-server", choices=["s3proxy", "moto"], default=settings.S3_SERVER,
                        help="s3proxy keeps objects on disk; moto keeps them in memory (default $TWEETSENT_S3_SERVER "
                             "or s3proxy)")
    parser.add_argument("--champion-from", default=settings.MLFLOW_TRACKING_URI,
                        help="the registry whose champion `up` and `copy-champion` copy (default $MLFLOW_TRACKING_URI "
                             "or the local sqlite:///data/mlflow.db)")
    parser.add_argument("--no-champion", action="store_true", help="`up` copies no champion")
    parser.set_defaults(func=run_cluster, redirect=False)


def topology_from(args: argparse.Namespace):
    from ..lib.cluster.topology import Topology

    ports = {"postgres": settings.POSTGRES_PORT, "s3": settings.S3_PORT, "master": settings.SPARK_MASTER_PORT,
             "master_ui": settings.SPARK_MASTER_UI_PORT, "connect": settings.CLUSTER_CONNECT_PORT}
    return Topology(root=Path(args.dir).resolve(), bucket=settings.CLUSTER_BUCKET, ports=ports, workers=args.workers,
                    s3_kind=getattr(args, "s3_server", settings.S3_SERVER))


def run_cluster(args: argparse.Namespace, console: "Console") -> int:
    from ..lib.cluster import topology as topologies
    from ..lib.cluster.champion import bring_champion

    topology = topology_from(args)
    topology.root.mkdir(parents=True, exist_ok=True)
    if args.action == "up":
        topologies.up(topology, champion_from=None if args.no_champion else args.champion_from)
    elif args.action == "copy-champion":
        bring_champion(topology.environment(), args.champion_from, settings.POSTGRES_CONNECT_TIMEOUT_S)
    elif args.action == "down":
        topologies.down(topology)
    elif args.action == "env":
        print("".join(f"export {k}={v}\n" for k, v in topology.environment().items()), end="")
    else:
        state = topologies.status(topology)
        print(json.dumps(state, indent=1, default=str))
        return 0 if all(part.get("running", True) for part in (state["postgres"], state["s3"], state["connect"])) \
            and state["spark"]["alive_workers"] == topology.workers else 3
    return 0
