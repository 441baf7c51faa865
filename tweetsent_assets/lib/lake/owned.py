"""Run a command only while its owner process lives: `python -m tweetsent_assets.lib.lake.owned PID -- CMD…`.

For servers started in a process group of their own, which an owner killed by SIGKILL could never
stop: once the owner is gone, the command gets SIGINT (as its owner's own stop would send), and
the group, when the wrapper leads one, SIGKILL after GRACE_S. SIGINT and SIGTERM sent to the
wrapper go to the command, and the wrapper exits with the command's code, so it stands in for the
command to whoever started it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from . import proc_stats

POLL_S = 1.0
GRACE_S = 10.0


def command(owner_pid: int, argv: list[str]) -> list[str]:
    """`argv`, wrapped so that it ends once `owner_pid` is gone."""
    return [sys.executable, "-m", __name__, str(owner_pid), "--", *argv]


def run(owner_pid: int, argv: list[str]) -> int:
    child = subprocess.Popen(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda sig, frame: child.send_signal(sig))
    while True:
        try:
            code = child.wait(timeout=POLL_S)
            return 128 - code if code < 0 else code
        except subprocess.TimeoutExpired:
            if not proc_stats.alive(owner_pid):
                break
    print(f"tweetsent: owner {owner_pid} is gone; stopping {argv[0]} (pid {child.pid})", file=sys.stderr, flush=True)
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    if os.getpgrp() == os.getpid():  # the leader of a group of its own: what the command left goes with it
        os.killpg(os.getpgrp(), signal.SIGKILL)
    child.kill()
    return 1


def _main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print("usage: python -m tweetsent_assets.lib.lake.owned OWNER_PID -- COMMAND [ARG…]", file=sys.stderr)
        return 2
    return run(int(argv[0]), argv[2:])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
