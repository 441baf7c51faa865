"""What the project's own long-lived processes share: is a port answering, their JSON state files, their logs,
and the signal handling and child stopping that let whoever starts them stop them on every way out."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def lower_priority(niceness: int = 10) -> int:
    """Raise this process's nice value to at least `niceness`, so that runs off the path to gold (folds,
    verification) leave the cores to the micro-batches; returns the nice value it runs at."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current < niceness:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    return os.getpriority(os.PRIO_PROCESS, 0)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def read_state(path: Path) -> dict | None:
    """A state file's content; None when it is missing or half-written."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_state(path: Path, state: dict) -> None:
    """Replace a state file atomically, so a reader never sees half of it."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=1))
    partial.replace(path)


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, or '(no log)' before there is one."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextmanager
def exit_on_signals(raising: type[BaseException] = SystemExit) -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise `raising` (code 128 + the signal), as Ctrl-C raises KeyboardInterrupt.

    Python's default for SIGTERM ends the process without running `finally` blocks, leaving the servers
    a script started; this makes them run. Further signals are ignored while the cleanup runs. Main thread only.
    """
    def leave(signum, frame) -> None:
        for each in ENDING_SIGNALS:
            signal.signal(each, _ignore)
        raise raising(128 + signum)

    previous = {each: signal.signal(each, leave) for each in ENDING_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def _ignore(signum, frame) -> None:
    """A handler that does nothing (unlike SIG_IGN, a program started meanwhile does not inherit it)."""


def end_process(process: subprocess.Popen, wait_s: float = 10.0) -> None:
    """Stop a child: SIGTERM, then SIGKILL if it still runs after `wait_s`."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_group(child: subprocess.Popen, grace_s: float = 5.0) -> int:
    """SIGINT to the leader of the child's group, then SIGKILL to whatever of the group is left after grace_s."""
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and (child.poll() is None or _group_alive(child.pid)):
        time.sleep(0.1)
    if _group_alive(child.pid):
        os.killpg(child.pid, signal.SIGKILL)
    return child.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
