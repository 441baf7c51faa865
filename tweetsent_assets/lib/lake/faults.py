"""Named crash points for the fault-injection suite; inert unless TWEETSENT_FAULT names one.

`TWEETSENT_FAULT=point` kills the process with SIGKILL on reaching `point`;
`TWEETSENT_FAULT=point:0.4` kills it 0.4 s later, while the work that follows is in flight.
`TWEETSENT_FAULT=point:raise` raises InjectedFault there instead (an ordinary failure), and
`TWEETSENT_FAULT=point:hang` blocks there, saying so on stderr, until a signal ends the process.
`TWEETSENT_FAULT_PID` names the process to kill instead (the run process, when the point is
reached in a Spark Python worker, e.g. during the model load).
"""
from __future__ import annotations

import os
import signal
import sys
import threading

FAULT_ENV = "TWEETSENT_FAULT"
ACTIONS = ("raise", "hang")


class InjectedFault(RuntimeError):
    """The failure that `point:raise` asked for."""


def fault_point(name: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, action = spec.rpartition(":")
    if not point or not (action in ACTIONS or action.replace(".", "", 1).isdigit()):
        point, action = spec, ""
    if point != name:
        return
    if action == "raise":
        raise InjectedFault(f"{FAULT_ENV}={spec}")
    if action == "hang":
        hang(name)
    target = int(os.environ.get("TWEETSENT_FAULT_PID") or os.getpid())
    if not action:
        os.kill(target, signal.SIGKILL)
    timer = threading.Timer(float(action), os.kill, args=(target, signal.SIGKILL))
    timer.daemon = True
    timer.start()


def hang(name: str) -> None:
    """Wait at `name` for a signal to end the process (a handled one that returns just goes on waiting)."""
    print(f"{FAULT_ENV}: reached {name}; waiting for a signal", file=sys.stderr, flush=True)
    while True:
        signal.pause()
