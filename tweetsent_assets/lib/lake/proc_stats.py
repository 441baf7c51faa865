"""Process facts read from /proc: liveness, resident memory, and a Spark server's Python daemons and workers."""
from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def alive(pid: int | None) -> bool:
    """True when `pid` names a running process, another user's too (zombies count as gone)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        pass
    except (ProcessLookupError, ValueError):
        return False
    return _stat(int(pid)).get("state") != "Z"


def _stat(pid: int) -> dict:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return {}
    fields = raw[raw.rindex(")") + 2:].split()
    return {"state": fields[0], "ppid": int(fields[1])}


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB (0 when it is gone)."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _cmdline(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """Direct children of `pid`."""
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and _stat(int(entry.name)).get("ppid") == pid:
            found.append(int(entry.name))
    return found


def server_processes(server_pid: int) -> dict:
    """The server JVM's resident memory, and its Python daemons (one per Connect session) and their workers."""
    daemons = [p for p in children(server_pid) if "pyspark.daemon" in _cmdline(p)]
    workers = [w for d in daemons for w in children(d)]
    return {"server_rss_mb": rss_mb(server_pid), "python_daemons": len(daemons), "python_workers": len(workers),
            "python_rss_mb": round(sum(rss_mb(p) for p in daemons + workers), 1)}
