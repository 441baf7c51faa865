"""`tweetsent cluster up|down|status|env`: the scale-out topology (PostgreSQL, S3 API, Spark standalone, Connect)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import settings
from .console import Console


def add_cluster_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cluster", help="bring the scale-out topology up or down, or inspect it",
        description="PostgreSQL (Dagster's instance and MLflow), an S3 API (moto) with the lake's bucket, a Spark "
                    "master with workers, and a Spark Connect server on them, all on 127.0.0.1. `up` writes the "
                    "variables to export into <dir>/cluster.env.")
    parser.add_argument("action", choices=["up", "down", "status", "env"])
    parser.add_argument("--dir", default=settings.CLUSTER_DIR, help="state and logs (default $TWEETSENT_CLUSTER_DIR "
                                                                    "or data/cluster)")
    parser.add_argument("--workers", type=int, default=settings.SPARK_WORKERS, help="Spark workers (default 2)")
    parser.set_defaults(func=run_cluster, redirect=False)


def topology_from(args: argparse.Namespace):
    from ..lib.cluster.topology import Topology

    ports = {"postgres": settings.POSTGRES_PORT, "s3": settings.S3_PORT, "master": settings.SPARK_MASTER_PORT,
             "master_ui": settings.SPARK_MASTER_UI_PORT, "connect": settings.CLUSTER_CONNECT_PORT}
    return Topology(root=Path(args.dir).resolve(), bucket=settings.CLUSTER_BUCKET, ports=ports, workers=args.workers)


def run_cluster(args: argparse.Namespace, console: "Console") -> int:
    from ..lib.cluster import topology as topologies

    topology = topology_from(args)
    topology.root.mkdir(parents=True, exist_ok=True)
    if args.action == "up":
        topologies.up(topology)
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
