"""`make dev`, `tweetsent dev --no-spark` (what `make cluster-dev` runs) and `make dashboard` stop everything they
started on Ctrl-C (SIGINT to the foreground group) and on SIGTERM within 10 s, checked on the process table."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..support import PROJECT_ROOT, free_port

pytestmark = pytest.mark.lifecycle

MARK = "TWEETSENT_LIFECYCLE_MARK"
STOP_WITHIN_S = 10.0


def _environment(tmp_path: Path) -> dict[str, str]:
    """A fresh instance and data folder (so the daemon finds nothing to run) and a marker every descendant inherits."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (PROJECT_ROOT / "dagster.yaml").read_text().replace("data/dagster", str(tmp_path / "data" / "dagster")))
    return {**os.environ, MARK: uuid.uuid4().hex, "DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(tmp_path / "data"),
            "TWEETSENT_DAGSTER_DIR": str(tmp_path / "data" / "dagster"), "TWEETSENT_SPARK_CONNECT_MASTER": "local[1]"}


def _marked(marker: str) -> list[str]:
    """'pid command line' of every process whose environment holds the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"{MARK}={marker}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if (entry / "stat").read_text().split()[2] != "Z":
                found.append(f"{entry.name} {command}")
        except OSError:
            continue
    return found


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before {url} answered:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """The command in a process group of its own, as a terminal's foreground job; whatever of it a failed test
    leaves is killed."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        for line in _marked(env[MARK]):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _stop_and_wait(process: subprocess.Popen, sig: signal.Signals, marker: str, log: Path) -> float:
    """Send sig to the group; seconds until no marked process is left (asserted within STOP_WITHIN_S)."""
    started = time.monotonic()
    os.killpg(process.pid, sig)
    left = _marked(marker)
    while left and time.monotonic() - started < STOP_WITHIN_S:
        time.sleep(0.2)
        left = _marked(marker)
    took = time.monotonic() - started
    assert not left, f"{len(left)} processes left {STOP_WITHIN_S:.0f} s after {sig.name}:\n" + \
        "\n".join(line[:200] for line in left) + f"\n{log.read_text()[-2000:]}"
    process.wait(timeout=5)
    return took


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_dev_leaves_nothing_running(tmp_path, sig):
    env, log = _environment(tmp_path), tmp_path / "dev.log"
    ui, spark = free_port(), free_port()
    with _started(["make", "--no-print-directory", "dev", f"DEV_PORT={ui}", f"SPARK_PORT={spark}"], env, log) as process:
        _wait_for_http(f"http://127.0.0.1:{ui}/server_info", process, log)
        running = _marked(env[MARK])
        for part in ("dagster_webserver", "dagster._daemon", "code-server", "SparkConnectServer",
                     "connect_server supervise"):
            assert any(part in line for line in running), f"{part} is not running under make dev:\n{running}"
        print(f"make dev: {len(running)} processes before {sig.name}:\n" + "\n".join(l[:110] for l in running))
        took = _stop_and_wait(process, sig, env[MARK], log)
        print(f"make dev: nothing left {took:.1f} s after {sig.name}: {_marked(env[MARK])}")


def test_cluster_dev_command_leaves_nothing_running(tmp_path):
    """`make cluster-dev` runs `tweetsent dev --no-spark` on the topology's settings; the topology itself stays up."""
    env, log = _environment(tmp_path), tmp_path / "dev.log"
    ui = free_port()
    command = [str(Path(sys.executable).parent / "tweetsent"), "dev", "--no-spark", "--port", str(ui)]
    with _started(command, {**env, "TWEETSENT_SPARK_MASTER": "local[1]"}, log) as process:
        _wait_for_http(f"http://127.0.0.1:{ui}/server_info", process, log)
        assert "SparkConnectServer" not in "\n".join(_marked(env[MARK]))
        _stop_and_wait(process, signal.SIGINT, env[MARK], log)
    assert "stopped on SIGINT" in log.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_make_dashboard_leaves_nothing_running(tmp_path, sig):
    env, log = _environment(tmp_path), tmp_path / "dashboard.log"
    port = free_port()
    with _started(["make", "--no-print-directory", "dashboard"], {**env, "TWEETSENT_DASHBOARD_PORT": str(port)},
                  log) as process:
        _wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", process, log)
        assert "streamlit" in "\n".join(_marked(env[MARK]))
        _stop_and_wait(process, sig, env[MARK], log)
