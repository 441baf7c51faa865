"""The crash-point switch itself: which names fire, and that nothing fires without it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

PROBE = "from tweetsent_assets.lib.lake.faults import fault_point; import time; fault_point({name!r}); time.sleep({wait}); print('alive')"


def run(name: str, fault: str | None, wait: float = 0.0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWEETSENT_FAULT")}
    if fault is not None:
        env["TWEETSENT_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", PROBE.format(name=name, wait=wait)], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name, fault", [
    ("bronze_committed", "bronze_committed"),
    ("write:bronze_tweets", "write:bronze_tweets"),
    ("merge:silver_tweets", "merge:silver_tweets:0.2"),
    ("model_load", "model_load:0"),
])
def test_named_point_kills(name, fault):
    assert run(name, fault, wait=2.0).returncode == -signal.SIGKILL


@pytest.mark.parametrize("name, fault", [
    ("write:bronze_tweets", None),
    ("write:bronze_tweets", "write:silver_tweets"),
    ("write:bronze_tweets", "write"),
    ("merge:silver_tweets", "merged:silver_tweets:0.1"),
])
def test_other_points_and_no_switch_do_nothing(name, fault):
    result = run(name, fault, wait=0.3)
    assert result.returncode == 0 and result.stdout.strip() == "alive"


def test_raise_fails_there_without_killing():
    result = run("connect-server-up", "connect-server-up:raise", wait=0.3)
    assert result.returncode == 1 and "InjectedFault: TWEETSENT_FAULT=connect-server-up:raise" in result.stderr
