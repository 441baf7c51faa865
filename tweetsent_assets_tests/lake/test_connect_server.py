"""The Spark Connect server as a service: the CLI starts, reports and stops it; its supervisor restarts it;
runs draw pooled session ids; bad configuration fails within seconds, naming the server.

Run by name (`pytest -m connect`, `make test-connect`): each module starts real servers.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tweetsent_assets.lib.lake import connect_server, connect_session, proc_stats
from tweetsent_assets.lib.lake.services import answers

from ..support import connect_server_running, free_port

pytestmark = pytest.mark.connect


def tweetsent(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tweetsent_assets.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def in_child(code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


SESSION_PROBE = """
import json, sys
from tweetsent_assets.lib.lake.spark_session import get_spark, served_by
spark = get_spark(sys.argv[1] if len(sys.argv) > 1 else {url!r}, state_dir={state!r})
spark.createDataFrame([(1,)], "x int").createOrReplaceTempView("left_behind")
views = [t.name for t in spark.catalog.listTables() if t.isTemporary]
print(json.dumps({{"slot": served_by().slot, "views": views, "spark": served_by().metadata()["spark"]}}))
"""


def test_cli_starts_reports_restarts_and_stops_the_server(tmp_path):
    port, state = free_port(), tmp_path / "spark-connect"
    args = ["--port", str(port), "--state-dir", str(state), "--master", "local[1]"]
    started = tweetsent("spark", "start", *args)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"sc://127.0.0.1:{port}" in started.stdout
        status = json.loads(tweetsent("spark", "status", "--json", *args).stdout)
        assert status["running"] and status["answering"] and status["restarts"] == 0
        assert status["server_rss_mb"] > 50 and status["python_daemons"] == 0
        assert answers("127.0.0.1", status["ui_port"])  # the driver's UI, where steps read their stage metrics

        os.kill(status["server_pid"], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            again = json.loads(tweetsent("spark", "status", "--json", *args).stdout)
            if again["answering"] and again["server_pid"] != status["server_pid"]:
                break
            time.sleep(1)
        assert again["restarts"] == 1 and again["running"], again
        assert again["supervisor_pid"] == status["supervisor_pid"]
    finally:
        stopped = tweetsent("spark", "stop", *args)
    assert "stopped" in stopped.stdout
    final = tweetsent("spark", "status", "--json", *args)
    assert final.returncode == 3 and not json.loads(final.stdout)["answering"]
    assert not proc_stats.alive(status["supervisor_pid"])


def test_runs_reuse_pooled_sessions_and_see_no_leftover_state(tmp_path):
    with connect_server_running(tmp_path / "spark-connect", master="local[1]") as server:
        probe = SESSION_PROBE.format(url=server.url, state=str(server.state_dir))
        first = json.loads(in_child(probe).stdout.strip().splitlines()[-1])
        second = json.loads(in_child(probe).stdout.strip().splitlines()[-1])
        assert first["slot"] == second["slot"] == 0, "a finished run frees its slot for the next"
        assert first["views"] == second["views"] == ["left_behind"], "the earlier run's view was dropped"
        assert first["spark"] == f"Spark Connect {server.url} (session slot 0)"

        holder = subprocess.Popen([sys.executable, "-c", probe + "\nimport time; time.sleep(60)"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert json.loads(holder.stdout.readline())["slot"] == 0
            assert json.loads(in_child(probe).stdout.strip().splitlines()[-1])["slot"] == 1
        finally:
            holder.kill()
            holder.wait()
        assert connect_session.session_id_for(connect_session.Endpoint.parse(server.url), 0) != \
            connect_session.session_id_for(connect_session.Endpoint.parse(server.url), 1)


def test_python_daemons_stay_at_one_per_slot(tmp_path):
    udf = SESSION_PROBE.replace('print(json.dumps', 'spark.range(4).mapInPandas(lambda it: it, "id long").count()\nprint(json.dumps')
    with connect_server_running(tmp_path / "spark-connect", master="local[1]") as server:
        probe = udf.format(url=server.url, state=str(server.state_dir))
        for _ in range(4):
            assert in_child(probe).returncode == 0
        state = connect_server.status(server)
    assert state["python_daemons"] == 1, state


RESTART_PROBE = """
import os, signal, sys, time
from pathlib import Path
from tweetsent_assets.lib.lake import connect_server, connect_session
server = connect_server.ConnectServer(state_dir=Path({state!r}), port={port})
session, lease = connect_session.connect({url!r}, Path({state!r}) / "slots", 1, server)
assert session.range(3).count() == 3
os.kill(connect_server.read_state(server)["server_pid"], signal.SIGKILL)
connect_server.wait_until_answering(server, 180)
time.sleep(30)
try:
    session.range(3).count()
except connect_session.SparkServerUnavailable as exc:
    print("named:", exc)
"""


def test_a_session_that_outlives_its_server_fails_naming_it(tmp_path):
    """The old session's next call reaches the restarted server (after gRPC's reconnect back-off), which
    has dropped it: the error names the server, not pyspark's NO_ACTIVE_SESSION."""
    with connect_server_running(tmp_path / "spark-connect", master="local[1]") as server:
        probe = RESTART_PROBE.format(state=str(server.state_dir), port=server.port, url=server.url)
        result = in_child(probe, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"named: Spark Connect server at {server.url} stopped answering: it restarted" in result.stdout, \
        result.stdout


SLOW_WRITE = """
import sys, time
from pathlib import Path
from tweetsent_assets.lib.lake import connect_session

def slow(frames):
    import time
    time.sleep(25)
    yield from frames

session, lease = connect_session.connect({url!r}, Path({state!r}) / "slots", 1)
print("slot", lease.slot, flush=True)
session.range(3).repartition(1).mapInPandas(slow, "id long").write.format("delta").save({table!r})
"""


def test_a_killed_runs_write_is_interrupted_by_the_next_run_on_its_slot(tmp_path):
    """Without the interrupt, the dead client's write would still commit about 25 s after it began."""
    table = tmp_path / "orphan"
    with connect_server_running(tmp_path / "spark-connect", master="local[1]") as server:
        code = SLOW_WRITE.format(url=server.url, state=str(server.state_dir), table=str(table))
        writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert writer.stdout.readline().split() == ["slot", "0"]
            time.sleep(5)
        finally:
            writer.kill()
            writer.wait()
        probe = SESSION_PROBE.format(url=server.url, state=str(server.state_dir))
        next_run = in_child(probe)
        assert json.loads(next_run.stdout.strip().splitlines()[-1])["slot"] == 0
        assert "interrupted 1 operation(s) a finished run left running" in next_run.stderr, next_run.stderr[-2000:]
        time.sleep(40)
    assert not list(table.glob("_delta_log/*.json")), "the killed run's write committed after all"


def test_wrong_address_fails_within_seconds_naming_it(tmp_path):
    port = free_port()
    started = time.monotonic()
    result = in_child(SESSION_PROBE.format(url=f"sc://127.0.0.1:{port}", state=str(tmp_path)))
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    assert f"no Spark Connect server answers at sc://127.0.0.1:{port}" in result.stderr
    assert "tweetsent spark start" in result.stderr


def test_server_without_delta_is_refused(tmp_path):
    no_delta = {"spark.sql.extensions": "", "spark.sql.catalog.spark_catalog":
                "org.apache.spark.sql.execution.datasources.v2.V2SessionCatalog"}
    with connect_server_running(tmp_path / "plain", master="local[1]", conf=no_delta) as server:
        result = in_child(SESSION_PROBE.format(url=server.url, state=str(server.state_dir)))
    assert result.returncode != 0
    assert f"Spark Connect server at {server.url} has no Delta SQL extension" in result.stderr


def test_other_spark_version_is_refused():
    endpoint = connect_session.Endpoint.parse("sc://127.0.0.1:15002")
    with pytest.raises(connect_session.SparkServerMismatch, match=r"runs Spark 3\.5\.1, but this client is pyspark 4\.2"):
        connect_session.check_server(endpoint, "3.5.1", "io.delta.sql.DeltaSparkSessionExtension")
    connect_session.check_server(endpoint, "4.2.0", "io.delta.sql.DeltaSparkSessionExtension")


def test_endpoint_parsing_rejects_what_the_pool_cannot_honour():
    assert connect_session.Endpoint.parse("sc://host:1234/;token=abc").session_url("s") == \
        "sc://host:1234/;session_id=s;token=abc"
    with pytest.raises(ValueError, match="sets session_id"):
        connect_session.Endpoint.parse("sc://host:1234/;session_id=x")
    with pytest.raises(ValueError, match="starts with sc://"):
        connect_session.Endpoint.parse("local[2]")
