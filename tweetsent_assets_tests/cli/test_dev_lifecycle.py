"""`make dev`, `tweetsent dev --no-spark` (what `make cluster-dev` runs) and `make dashboard` stop everything they
started on Ctrl-C (SIGINT to the foreground group) and on SIGTERM within 10 s, checked on the process table."""
from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from ..processes import MARK, marked, started, stop_and_wait, wait_for_http
from ..support import PROJECT_ROOT, free_port

pytestmark = pytest.mark.lifecycle


def _environment(tmp_path: Path) -> dict[str, str]:
    """A fresh instance and data folder (so the daemon finds nothing to run) and a marker every descendant inherits."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (PROJECT_ROOT / "dagster.yaml").read_text().replace("data/dagster", str(tmp_path / "data" / "dagster")))
    return {**os.environ, MARK: uuid.uuid4().hex, "DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(tmp_path / "data"),
            "TWEETSENT_DAGSTER_DIR": str(tmp_path / "data" / "dagster"), "TWEETSENT_SPARK_CONNECT_MASTER": "local[1]"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_dev_leaves_nothing_running(tmp_path, sig):
    env, log = _environment(tmp_path), tmp_path / "dev.log"
    ui, spark = free_port(), free_port()
    with started(["make", "--no-print-directory", "dev", f"DEV_PORT={ui}", f"SPARK_PORT={spark}"], env, log) as process:
        wait_for_http(f"http://127.0.0.1:{ui}/server_info", process, log)
        running = marked(env[MARK])
        for part in ("dagster_webserver", "dagster._daemon", "code-server", "SparkConnectServer",
                     "connect_server supervise"):
            assert any(part in line for line in running.values()), f"{part} is not running under make dev:\n{running}"
        print(f"make dev: {len(running)} processes before {sig.name}:\n" +
              "\n".join(f"{pid} {line[:110]}" for pid, line in running.items()))
        took = stop_and_wait(process, sig, env[MARK], log)
        print(f"make dev: nothing left {took:.1f} s after {sig.name}: {marked(env[MARK])}")


def test_cluster_dev_command_leaves_nothing_running(tmp_path):
    """`make cluster-dev` runs `tweetsent dev --no-spark` on the topology's settings; the topology itself stays up."""
    env, log = _environment(tmp_path), tmp_path / "dev.log"
    ui = free_port()
    command = [str(Path(sys.executable).parent / "tweetsent"), "dev", "--no-spark", "--port", str(ui)]
    with started(command, {**env, "TWEETSENT_SPARK_MASTER": "local[1]"}, log) as process:
        wait_for_http(f"http://127.0.0.1:{ui}/server_info", process, log)
        assert "SparkConnectServer" not in "\n".join(marked(env[MARK]).values())
        stop_and_wait(process, signal.SIGINT, env[MARK], log)
    assert "stopped on SIGINT" in log.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_dashboard_leaves_nothing_running(tmp_path, sig):
    env, log = _environment(tmp_path), tmp_path / "dashboard.log"
    port = free_port()
    with started(["make", "--no-print-directory", "dashboard"], {**env, "TWEETSENT_DASHBOARD_PORT": str(port)},
                  log) as process:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", process, log)
        assert "streamlit" in "\n".join(marked(env[MARK]).values())
        stop_and_wait(process, sig, env[MARK], log)
