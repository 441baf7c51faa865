"""A benchmark or a test session that starts a Spark Connect server leaves none behind, however it ends: a
failure after the server is up, SIGTERM, or SIGKILL (then the supervisor's owner watch stops it).

Each test marks the process's environment with a unique variable, which its supervisor, server JVM and
Python workers inherit, and asserts on the process table. Run by name: `pytest -m lifecycle`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tweetsent_assets.lib.lake.faults import FAULT_ENV

from ..processes import MARK, left_after, marked
from ..support import PROJECT_ROOT

pytestmark = pytest.mark.lifecycle

# run_start.py with the server only (no timed repeats); a pytest session whose fixture starts a server.
BENCHMARK = [sys.executable, str(PROJECT_ROOT / "benchmarks" / "run_start.py"), "--repeats", "0"]
PYTEST = [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "-m", "connect",
          "tweetsent_assets_tests/lake/test_connect_server.py::test_runs_reuse_pooled_sessions_and_see_no_leftover_state"]
POINT = "connect-server-up"


def launch(command: list[str], fault: str, mark: str, stderr) -> subprocess.Popen:
    """`command` with `mark` in its environment and the fault at the point where its Connect server is up."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(FAULT_ENV)}, MARK: mark, FAULT_ENV: fault}
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def test_a_benchmark_that_fails_after_its_server_is_up_leaves_no_server(tmp_path):
    mark = uuid.uuid4().hex
    with open(tmp_path / "stderr", "w") as err:
        code = launch(BENCHMARK, f"{POINT}:raise", mark, err).wait(timeout=240)
    stderr = (tmp_path / "stderr").read_text()
    assert code != 0 and "InjectedFault" in stderr, stderr
    assert left_after(mark, 0) == {}, "the benchmark's own cleanup, not the owner watch, stops its server"


@pytest.mark.parametrize("command, code", [(BENCHMARK, 128 + signal.SIGTERM), (PYTEST, pytest.ExitCode.INTERRUPTED)],
                         ids=["benchmark", "pytest-session"])
def test_sigterm_after_the_server_is_up_leaves_no_server(tmp_path, command, code):
    mark = uuid.uuid4().hex
    with open(tmp_path / "stderr", "w") as err:
        proc = launch(command, f"{POINT}:hang", mark, err)
    try:
        deadline = time.monotonic() + 240
        while f"reached {POINT}" not in (tmp_path / "stderr").read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.5)
        running = " ".join(marked(mark).values())
        assert "SparkConnectServer" in running and "connect_server supervise" in running, running
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == code, (tmp_path / "stderr").read_text()
    finally:
        proc.kill()
    assert left_after(mark, 0) == {}, "the process's own cleanup, not the owner watch, stops its server"


def test_the_supervisor_stops_the_server_once_its_owner_is_sigkilled(tmp_path):
    mark = uuid.uuid4().hex
    with open(tmp_path / "stderr", "w") as err:
        code = launch(BENCHMARK, POINT, mark, err).wait(timeout=240)
    assert code == -signal.SIGKILL, (tmp_path / "stderr").read_text()
    assert left_after(mark, 10) == {}


SIGNALLED = """
import os, signal
from tweetsent_assets.lib.lake.services import exit_on_signals
try:
    with exit_on_signals({raising}):
        os.kill(os.getpid(), signal.{signal})
        signal.pause()
finally:
    print("cleaned up", flush=True)
"""


@pytest.mark.parametrize("raising, signal_name, code", [
    ("SystemExit", "SIGTERM", 128 + signal.SIGTERM),
    ("SystemExit", "SIGHUP", 128 + signal.SIGHUP),
    ("KeyboardInterrupt", "SIGTERM", -signal.SIGINT),
])
def test_sigterm_and_sighup_run_the_cleanup(raising, signal_name, code):
    done = subprocess.run([sys.executable, "-c", SIGNALLED.format(raising=raising, signal=signal_name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == code and done.stdout.strip() == "cleaned up", done.stderr
