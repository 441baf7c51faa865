"""Named crash points for the fault-injection suite; inert unless TWEETSENT_FAULT names one.

`TWEETSENT_FAULT=point` kills the process with SIGKILL on reaching `point`;
`TWEETSENT_FAULT=point:0.4` kills it 0.4 s later, while the work that follows is in flight.
`TWEETSENT_FAULT_PID` names the process to kill instead (the run process, when the point is
reached in a Spark Python worker, e.g. during the model load).
"""
from __future__ import annotations

import os
import signal
import threading

FAULT_ENV = "TWEETSENT_FAULT"


def fault_point(name: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, delay = spec.rpartition(":")
    if not point or not delay.replace(".", "", 1).isdigit():
        point, delay = spec, ""
    if point != name:
        return
    target = int(os.environ.get("TWEETSENT_FAULT_PID") or os.getpid())
    if not delay:
        os.kill(target, signal.SIGKILL)
    timer = threading.Timer(float(delay), os.kill, args=(target, signal.SIGKILL))
    timer.daemon = True
    timer.start()
