"""What the project's own long-lived processes share: is a port answering, their JSON state files, their logs."""
from __future__ import annotations

import json
import socket
from pathlib import Path


def answers(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


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
