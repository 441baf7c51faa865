"""The process table for the lifecycle and serving tests: a marker in the environment that every descendant
inherits, the live processes that carry it, and a command run and signalled as a terminal's foreground group."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .support import PROJECT_ROOT

MARK = "TWEETSENT_LIFECYCLE_MARK"
STOP_WITHIN_S = 10.0


def marked(marker: str) -> dict[int, str]:
    """Command line by pid of every live (not zombie) process whose environment carries the marker."""
    needle = f"{MARK}={marker}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and int(entry.name) != os.getpid()
                    and needle in (entry / "environ").read_bytes().split(b"\0")
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def left_after(marker: str, seconds: float) -> dict[int, str]:
    """The marked processes still there after up to `seconds`; SIGKILLed then, so a failing test leaks nothing."""
    deadline = time.monotonic() + seconds
    while (left := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def start_group(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """The command in a process group of its own, as a terminal's foreground job, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """start_group; whatever carries env's marker when the block ends (a failed test) is killed."""
    try:
        yield start_group(command, env, log)
    finally:
        left_after(env[MARK], 0)


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 240.0) -> None:
    """Until `url` answers 200; fails with the log's tail if the process exits first or time runs out."""
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


def stop_and_wait(process: subprocess.Popen, sig: signal.Signals, marker: str, log: Path) -> float:
    """Send sig to the process's group; seconds until no marked process is left (asserted within STOP_WITHIN_S)."""
    begun = time.monotonic()
    os.killpg(process.pid, sig)
    left = left_after(marker, STOP_WITHIN_S)
    took = time.monotonic() - begun
    assert not left, f"{len(left)} processes left {STOP_WITHIN_S:.0f} s after {sig.name}:\n" + \
        "\n".join(line[:200] for line in left.values()) + f"\n{log.read_text()[-2000:]}"
    process.wait(timeout=5)
    return took
