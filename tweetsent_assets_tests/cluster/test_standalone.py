"""A real Spark standalone cluster (master + 2 workers) behind the Connect server: executors get the code shipped.

Run by name: `pytest -m cluster` (make test-cluster).
"""
from __future__ import annotations

import os
import time
import uuid

import pytest

from tweetsent_assets.lib.cluster import standalone
from tweetsent_assets.lib.lake import connect_server, connect_session
from tweetsent_assets.lib.lake.spark_conf import SparkMasterUnavailable, check_master

from ..support import free_port

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory):
    """A master, 2 workers and a Connect server whose master is the cluster; all stopped afterwards."""
    state = tmp_path_factory.mktemp("standalone")
    cluster = standalone.StandaloneCluster(state_dir=state, port=free_port(), ui_port=free_port())
    server = connect_server.ConnectServer(state_dir=state, port=free_port(), master=cluster.url,
                                          conf=cluster.connect_conf(), owner_pid=os.getpid())
    try:
        standalone.start(cluster)
        with connect_server.running(server):
            yield cluster, server
    finally:
        standalone.stop(cluster)


def _where_tweetsent_imports_from(session) -> set[str]:
    import pandas as pd

    def probe(frames):
        for _ in frames:
            try:
                import tweetsent_assets
                found = tweetsent_assets.__file__
            except ModuleNotFoundError as exc:
                found = f"missing: {exc}"
            yield pd.DataFrame({"found": [found]})

    return {row.found for row in session.range(8).repartition(4).mapInPandas(probe, "found string").collect()}


def _silver_rows(session) -> int:
    """Silver's own cleaning function, which Spark pickles by reference: the executors must import it."""
    from tweetsent_assets.lib.ingest.silver_rows import BRONZE_INPUT_COLUMNS, SILVER_SCHEMA, silver_partitions
    from tweetsent_assets.lib.lake.pandas_udfs import map_in_pandas

    values = {"id": "1", "date": "2015-02-24 11:35:52 -0800", "user": "u", "text": "hello @airline",
              "batch_id": "b1", "record_key": "k", "source_file": "f"}
    row = tuple(values.get(c) for c in BRONZE_INPUT_COLUMNS)
    frame = session.createDataFrame([row], ", ".join(f"`{c}` string" for c in BRONZE_INPUT_COLUMNS))
    frame = frame.withColumn("ingested_at", frame["ingested_at"].cast("timestamp"))
    return map_in_pandas(frame, silver_partitions, SILVER_SCHEMA).count()


def test_the_cluster_has_two_workers_and_the_server_runs_on_it(cluster_server):
    cluster, server = cluster_server
    view = standalone.status(cluster)
    assert view["alive_workers"] == 2 and view["cores"] == 2
    assert "tweetsent-connect" in view["applications"]
    assert all(p["alive"] for p in view["processes"].values()) and len(view["processes"]) == 3


def test_executors_lack_the_code_unless_the_session_ships_it(cluster_server, tmp_path):
    from pyspark.errors import PythonException
    from pyspark.sql import SparkSession

    _, server = cluster_server
    bare = SparkSession.builder.remote(f"{server.url}/;session_id={uuid.uuid4()}").create()
    try:
        found = _where_tweetsent_imports_from(bare)
        assert found == {"missing: No module named 'tweetsent_assets'"}
        with pytest.raises(PythonException, match="tweetsent_assets"):
            _silver_rows(bare)
    finally:
        bare.stop()

    shipped, lease = connect_session.connect(server.url, tmp_path / "slots", 1)
    try:
        found = _where_tweetsent_imports_from(shipped)
        assert all(f.endswith(".zip/tweetsent_assets/__init__.py") for f in found)
        assert {"worker-1" in f for f in found} == {True, False}, "both workers' executors ran the probe"
        assert _silver_rows(shipped) == 1
    finally:
        shipped.release_session_on_close = False
        shipped.stop()
        lease.release()


def test_a_master_url_with_nothing_listening_fails_within_seconds(tmp_path):
    url = f"spark://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(SparkMasterUnavailable, match=url):
        check_master(url)
    server = connect_server.ConnectServer(state_dir=tmp_path, port=free_port(), master=url)
    with pytest.raises(SparkMasterUnavailable, match=url):
        connect_server.start(server)
    assert time.monotonic() - started < 15
