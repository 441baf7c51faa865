"""The console: steps on stdout, library noise (Python, logging, child processes) in the log file, -v shows all.

Each case runs in a child process, because the console redirects file descriptor 2 of its process.
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from ..support import PROJECT_ROOT

SCRIPT = textwrap.dedent("""
    import logging, os, subprocess, sys, warnings
    from tweetsent_assets.cli.console import session

    with session("check", verbose={verbose}, redirect=True, log_dir=sys.argv[1]) as console:
        with console.step("first step") as step:
            step.note = "3 things"
            print("library chatter on stderr", file=sys.stderr)
            warnings.warn("a python warning")
            logging.getLogger("py4j.clientserver").warning("py4j noise")
            subprocess.run(["sh", "-c", "echo jvm line >&2"], check=True)
        logging.getLogger("tweetsent_assets.lib.x").warning("this one matters")
        with console.progress("bar", 3) as bar:
            bar.advance()
    print("after", file=sys.stderr)
""")


def run(tmp_path: Path, verbose: bool) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT.format(verbose=verbose), str(tmp_path)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, check=True)


def test_noise_goes_to_the_log_file_and_warnings_that_matter_do_not(tmp_path):
    done = run(tmp_path, verbose=False)
    out = done.stdout.splitlines()
    assert len(out) == 2
    assert re.match(r"^first step \(3 things\) +\d+\.\d s$", out[0])
    (log,) = tmp_path.glob("tweetsent-check-*.log")
    assert out[1] == f"details: {log.resolve()}"
    assert done.stderr.splitlines() == ["warning: this one matters", "after"], "fd 2 is restored at the end"
    text = log.read_text()
    for noise in ("library chatter on stderr", "a python warning", "py4j noise", "jvm line", "this one matters"):
        assert noise in text, noise


def test_verbose_shows_everything_and_writes_no_log(tmp_path):
    done = run(tmp_path, verbose=True)
    assert not list(tmp_path.glob("*.log"))
    for noise in ("library chatter on stderr", "a python warning", "py4j noise", "jvm line", "this one matters"):
        assert noise in done.stderr, noise
    assert done.stdout.startswith("first step (3 things)")
