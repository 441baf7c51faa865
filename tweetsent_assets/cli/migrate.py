"""`tweetsent migrate`: map an instance's batch partitions (earlier versions) to hour partitions, idempotently."""
from __future__ import annotations

import argparse

from .console import Console


def add_migrate_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "migrate", help="map the batch partitions of an older instance to hour partitions",
        description="Reads the Dagster instance at $DAGSTER_HOME and reports, per asset, one materialization of "
                    "each hour that has materialized batch partitions (earlier versions made one partition per "
                    "micro-batch). The lake is left as it is. Running it again changes nothing.")
    parser.set_defaults(func=run_migrate, redirect=False)


def run_migrate(args: argparse.Namespace, console: Console) -> int:
    from dagster import DagsterInstance

    from ..defs.migration import migrate_batch_partitions

    with DagsterInstance.get() as instance:
        console.line(f"tweetsent migrate: {migrate_batch_partitions(instance).summary()}")
    return 0
