"""`lake.owned`: a wrapped command ends once its owner is gone, even SIGKILLed, and passes signals and exit codes on."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tweetsent_assets.lib.lake import owned

from ..processes import MARK, left_after, marked

pytestmark = pytest.mark.lifecycle


def _start(argv: list[str], marker: str, owner_pid: int) -> subprocess.Popen:
    return subprocess.Popen(owned.command(owner_pid, argv), env={**os.environ, MARK: marker},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_the_command_and_its_group_end_once_the_owner_is_sigkilled():
    marker = uuid.uuid4().hex
    owner = subprocess.Popen(["sleep", "120"])
    # The command ignores SIGINT and has a child of its own: only the group's SIGKILL ends them.
    wrapper = _start(["sh", "-c", "trap '' INT; sleep 120 & sleep 120"], marker, owner.pid)
    deadline = time.monotonic() + 10
    while len(marked(marker)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(marked(marker)) == 4, marked(marker)  # the wrapper, sh and its two sleeps
    owner.kill()
    owner.wait()
    began = time.monotonic()
    left = left_after(marker, owned.POLL_S + owned.GRACE_S + 5)
    assert not left, left
    assert time.monotonic() - began >= owned.GRACE_S - 1  # SIGINT first, the group's SIGKILL after the grace
    assert wrapper.wait(timeout=5) == -signal.SIGKILL


def test_signals_reach_the_command_and_its_exit_code_comes_back():
    marker = uuid.uuid4().hex
    wrapper = _start([sys.executable, "-c", "import time; time.sleep(120)"], marker, os.getpid())
    deadline = time.monotonic() + 10
    while len(marked(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=10) == 128 + signal.SIGTERM
    assert not left_after(marker, 5)
    assert subprocess.run(owned.command(os.getpid(), ["sh", "-c", "exit 3"])).returncode == 3
