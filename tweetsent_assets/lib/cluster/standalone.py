"""A Spark standalone cluster on this machine: one master and N workers, from the installed pyspark's own classes.

The processes are the ones a real deployment runs (`org.apache.spark.deploy.master.Master`,
`org.apache.spark.deploy.worker.Worker`), bound to 127.0.0.1. Executors run in the workers' own
JVMs with their own Python workers, on an interpreter that has the project's dependencies but
not its code (executor_python), so the code must reach them the way it reaches a remote cluster.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..lake import proc_stats, services
from ..lake.services import answers

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterStartError(RuntimeError):
    """The master or a worker did not come up; the message names it and ends with its log."""


@dataclass(frozen=True)
class StandaloneCluster:
    """Where the master listens, how many workers of what size, and where pids and logs live."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 7077
    ui_port: int = 8080
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "2g"

    @property
    def url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"cluster-{self.port}.json"

    def log_file(self, name: str) -> Path:
        return self.state_dir / f"{name}-{self.port}.log"

    def processes(self) -> dict[str, list[str]]:
        """Name -> arguments to spark-class, master first."""
        found = {"master": [MASTER_CLASS, "--host", self.host, "--port", str(self.port),
                            "--webui-port", str(self.ui_port)]}
        for n in range(1, self.workers + 1):
            found[f"worker-{n}"] = [WORKER_CLASS, self.url, "--host", self.host, "--cores", str(self.worker_cores),
                                    "--memory", self.worker_memory, "--webui-port", "0",
                                    "--work-dir", str(self.state_dir / f"worker-{n}-{self.port}")]
        return found

    def environment(self) -> dict[str, str]:
        return {**os.environ, "SPARK_LOCAL_IP": self.host, "SPARK_DAEMON_MEMORY": "512m",
                "PYSPARK_PYTHON": str(executor_python(self.state_dir))}

    def connect_conf(self, executor_memory: str = "1g") -> dict[str, str]:
        """What a Connect server (the cluster's one driver) needs to run its executors here."""
        return {
            "spark.driver.host": self.host,
            "spark.driver.bindAddress": self.host,
            "spark.executor.cores": str(self.worker_cores),
            "spark.executor.memory": executor_memory,
            "spark.cores.max": str(self.workers * self.worker_cores),
            "spark.default.parallelism": str(self.workers * self.worker_cores),
            "spark.sql.shuffle.partitions": str(2 * self.workers * self.worker_cores),
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.ui.showConsoleProgress": "false",
            "spark.pyspark.python": str(executor_python(self.state_dir)),
        }


def executor_python(state_dir: Path) -> Path:
    """An interpreter for executors: this venv's packages, without the project's editable install.

    `-S` skips site's .pth files, which is how the editable install (and only packaging
    helpers besides it) puts the project on the path; site-packages comes back by PYTHONPATH.
    """
    script = Path(state_dir) / "executor-python"
    site_packages = sysconfig.get_paths()["purelib"]
    text = ("#!/bin/sh\n"
            f'PYTHONPATH="{site_packages}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" -S "$@"\n')
    if not script.exists() or script.read_text() != text:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text)
        script.chmod(0o755)
    return script


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def read_state(cluster: StandaloneCluster) -> dict:
    return services.read_state(cluster.state_file) or {}


def master_view(cluster: StandaloneCluster, timeout_s: float = 2.0) -> dict | None:
    """The master's own JSON status (alive workers, cores, running applications), or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{cluster.host}:{cluster.ui_port}/json/", timeout=timeout_s) as reply:
            return json.load(reply)
    except (OSError, ValueError):
        return None


def alive_workers(cluster: StandaloneCluster) -> int:
    view = master_view(cluster) or {}
    return sum(1 for w in view.get("workers", []) if w.get("state") == "ALIVE")


def start(cluster: StandaloneCluster, wait_s: float = 120.0) -> dict:
    """Start whatever is not running (master first), then wait until every worker has registered."""
    cluster.state_dir.mkdir(parents=True, exist_ok=True)
    executor_python(cluster.state_dir)
    state = read_state(cluster)
    pids = state.get("pids", {})
    for name, args in cluster.processes().items():
        if proc_stats.alive(pids.get(name)):
            continue
        if name == "master" and answers(cluster.host, cluster.port):
            raise ClusterStartError(f"port {cluster.port} on {cluster.host} is taken by a process this project does "
                                    f"not manage; stop it or choose another port (TWEETSENT_SPARK_MASTER_PORT)")
        with cluster.log_file(name).open("ab") as log:
            process = subprocess.Popen([str(_spark_class()), *args], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True, env=cluster.environment())
        pids[name] = process.pid
        services.write_state(cluster.state_file, {"url": cluster.url, "ui_port": cluster.ui_port, "pids": pids})
        if name == "master":
            _wait(cluster, "master", lambda: answers(cluster.host, cluster.port) and master_view(cluster), wait_s)
    _wait(cluster, "workers", lambda: alive_workers(cluster) >= cluster.workers, wait_s)
    return status(cluster)


def _wait(cluster: StandaloneCluster, what: str, ready, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if ready():
            return
        pids = read_state(cluster).get("pids", {})
        dead = [name for name, pid in pids.items() if not proc_stats.alive(pid)]
        if dead:
            log = cluster.log_file(dead[0])
            raise ClusterStartError(f"Spark {dead[0]} for {cluster.url} exited while starting; "
                                    f"its log {log} ends:\n{services.log_tail(log)}")
        time.sleep(0.5)
    raise ClusterStartError(f"Spark {what} of {cluster.url} not ready within {wait_s:.0f} s; "
                            f"logs in {cluster.state_dir}")


def stop(cluster: StandaloneCluster, wait_s: float = 30.0) -> list[str]:
    """Stop workers, then the master (SIGTERM, then SIGKILL); returns the names that were running."""
    pids = read_state(cluster).get("pids", {})
    running = [name for name in reversed(list(pids)) if proc_stats.alive(pids[name])]
    for name in running:
        os.kill(pids[name], signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(proc_stats.alive(pids[n]) for n in running):
        time.sleep(0.2)
    for name in running:
        if proc_stats.alive(pids[name]):
            os.kill(pids[name], signal.SIGKILL)
    cluster.state_file.unlink(missing_ok=True)
    return running


def status(cluster: StandaloneCluster) -> dict:
    """Pids and liveness of each process, and what the master says: alive workers, cores, applications."""
    pids = read_state(cluster).get("pids", {})
    view = master_view(cluster) or {}
    return {"url": cluster.url, "ui": f"http://{cluster.host}:{cluster.ui_port}",
            "processes": {name: {"pid": pid, "alive": proc_stats.alive(pid)} for name, pid in pids.items()},
            "alive_workers": sum(1 for w in view.get("workers", []) if w.get("state") == "ALIVE"),
            "cores": view.get("cores", 0), "applications": [a.get("name") for a in view.get("activeapps", [])],
            "logs": str(cluster.state_dir)}
