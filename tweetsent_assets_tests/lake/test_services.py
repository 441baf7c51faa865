"""Process priority for runs off the path to gold."""
from __future__ import annotations

import os
import subprocess
import sys

RAISE = "from tweetsent_assets.lib.lake.services import lower_priority; print(lower_priority({niceness}))"


def _nice_after(niceness: int, start_at: int = 0) -> int:
    command = [sys.executable, "-c", RAISE.format(niceness=niceness)]
    if start_at:
        command = ["nice", "-n", str(start_at), *command]
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def test_lower_priority_raises_nice_to_at_least_the_value():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert _nice_after(10) == max(10, base)
    assert _nice_after(5, start_at=15) == min(19, base + 15)
