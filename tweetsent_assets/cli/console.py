"""What `tweetsent` commands print: one line per step with its time, progress bars, and a log file for the rest.

By default the process's stderr (file descriptor 2) goes to a log file before any library
starts, so Spark's JVM, py4j, MLflow, transformers, Dagster and Python warnings write there,
whatever they use; the user sees the steps on stdout and this project's own warnings on the
real stderr. With verbose, nothing is redirected and everything shows.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TOKENIZERS_PARALLELISM": "false",
}
USER_LOGGERS = ("tweetsent_assets",)
BAR_WIDTH = 24
STATUS_WIDTH = 60


class _UserWarnings(logging.Filter):
    """This project's own warnings and errors (the ones that matter to the person running the command)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and record.name.startswith(USER_LOGGERS)


class Console:
    """Step lines on stdout; everything else to `log_path` unless verbose."""

    def __init__(self, out: TextIO, err: TextIO, log_path: Path | None):
        self.out, self.err, self.log_path = out, err, log_path
        self._bar: str = ""
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self._clear_bar()
            print(text, file=self.out, flush=True)

    def warn(self, text: str) -> None:
        with self._lock:
            self._clear_bar()
            print(text, file=self.err, flush=True)

    @contextmanager
    def step(self, name: str):
        """Prints `name` and the step's seconds when the block ends; the block may set `.note` and `.ok`."""
        outcome = _Step()
        started = time.perf_counter()
        try:
            yield outcome
        except BaseException:
            outcome.ok = False
            raise
        finally:
            seconds = time.perf_counter() - started
            status = "" if outcome.ok else "  FAILED"
            note = f" ({outcome.note})" if outcome.note else ""
            self.line(f"{name + note:<66} {seconds:6.1f} s{status}")

    @contextmanager
    def progress(self, label: str, total: float, unit: str = ""):
        """A bar redrawn in place on a terminal (nothing elsewhere); `advance(n)` or `set(value)` moves it."""
        bar = _Bar(self, label, total, unit)
        try:
            yield bar
        finally:
            with self._lock:
                self._clear_bar()

    @contextmanager
    def ticking(self, label: str, budget_s: float):
        """A bar that fills with elapsed time against an expected duration (for steps that report no progress)."""
        with self.progress(label, budget_s, "s") as bar:
            stop = threading.Event()
            started = time.perf_counter()

            def tick() -> None:
                while not stop.wait(1.0):
                    bar.set(min(time.perf_counter() - started, budget_s))

            thread = threading.Thread(target=tick, daemon=True)
            thread.start()
            stdout, sys.stdout = sys.stdout, _ClearingWriter(self)
            try:
                yield bar
            finally:
                sys.stdout = stdout
                stop.set()
                thread.join()

    def draw(self, text: str) -> None:
        if not self.out.isatty():
            return
        with self._lock:
            self._bar = text
            self.out.write("\r" + text)
            self.out.flush()

    def _clear_bar(self) -> None:
        if self._bar:
            self.out.write("\r" + " " * len(self._bar) + "\r")
            self.out.flush()
            self._bar = ""

    def finish(self) -> None:
        if self.log_path is not None:
            self.line(f"details: {self.log_path}")


class _ClearingWriter:
    """sys.stdout while a bar is drawn: prints from elsewhere first clear the bar's line."""

    def __init__(self, console: Console):
        self.console = console

    def write(self, text: str) -> int:
        with self.console._lock:
            self.console._clear_bar()
            return self.console.out.write(text)

    def flush(self) -> None:
        self.console.out.flush()

    def isatty(self) -> bool:
        return self.console.out.isatty()


class _Step:
    def __init__(self) -> None:
        self.note, self.ok = "", True


class _Bar:
    def __init__(self, console: Console, label: str, total: float, unit: str):
        self.console, self.label, self.total, self.unit, self.value = console, label, max(total, 1e-9), unit, 0.0
        self.status = ""
        self.set(0)

    def advance(self, n: float = 1) -> None:
        self.set(self.value + n)

    def show(self, status: str) -> None:
        """A short status after the bar (the latest progress message), redrawn in place like the bar."""
        self.status = " ".join(status.split())[:STATUS_WIDTH]
        self.set(self.value)

    def set(self, value: float) -> None:
        self.value = value
        filled = int(BAR_WIDTH * min(value / self.total, 1.0))
        self.console.draw(f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                          f"{self.value:.0f}/{self.total:.0f}{self.unit}" + (f"  {self.status}" if self.status else ""))


@contextmanager
def session(command: str, verbose: bool, redirect: bool, log_dir: str | None = None):
    """The console for one command. With `redirect` (and not verbose), fd 2 goes to a log file until the end.

    Enter it before Spark, MLflow or transformers are imported, so their output follows fd 2.
    """
    if verbose or not redirect:
        if verbose:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        yield Console(sys.stdout, sys.stderr, None)
        return
    from .. import settings

    folder = Path(log_dir or os.path.join(settings.DATA_DIR, "logs"))
    folder.mkdir(parents=True, exist_ok=True)
    log_path = (folder / f"tweetsent-{command}-{datetime.now():%Y%m%d-%H%M%S}.log").resolve()
    saved_env = {key: os.environ.get(key) for key in (*QUIET_ENV, "TWEETSENT_LOG_FILE")}
    os.environ.update({**{k: os.environ.get(k) or v for k, v in QUIET_ENV.items()}, "TWEETSENT_LOG_FILE": str(log_path)})
    sys.stderr.flush()
    saved_fd = os.dup(2)
    err = os.fdopen(os.dup(2), "w", buffering=1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    file_handler = logging.StreamHandler(sys.stderr)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    user = logging.StreamHandler(err)
    user.addFilter(_UserWarnings())
    user.setFormatter(logging.Formatter("warning: %(message)s"))
    root.handlers, root.level = [file_handler, user], logging.INFO
    logging.captureWarnings(True)
    console = Console(sys.stdout, err, log_path)
    try:
        yield console
    finally:
        console.finish()
        logging.captureWarnings(False)
        root.handlers, root.level = handlers, level
        sys.stderr.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        err.close()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
