"""The long-lived Spark Connect server: its command line, a supervisor that restarts it, start/stop/status.

The server is `spark-submit --class org.apache.spark.sql.connect.service.SparkConnectServer` from the
installed pyspark, with Delta's extension and the jars in `.jars/`, bound to 127.0.0.1. A small
supervisor process owns it and starts it again if it dies, so a killed server comes back by itself;
`stop` asks the supervisor to shut both down. Its state (pids, address, restarts) is a JSON file.
A server with an owner (a benchmark, a test session) is shut down by its supervisor once the owner
process is gone, however it ended; `running` stops it on every exit path of the owner's code itself.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import proc_stats, s3a, services
from .faults import fault_point
from .services import answers
from .spark_conf import AQE_CONF, DELTA_CONF, LOCAL_DEFAULTS, LOG4J_CONF, check_master
from .spark_jars import DEFAULT_JAR_DIR, delta_coordinates, jar_paths

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DEFAULT_PORT = 15002
# Give up after this many deaths in a row that each came within FAST_DEATH_S of their start.
MAX_FAST_DEATHS, FAST_DEATH_S = 5, 20.0
# How often a supervisor checks that its owner process still runs.
OWNER_POLL_S = 1.0


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class ConnectServer:
    """Where one Connect server listens, which Spark master it runs on, and where its state lives.

    With `owner_pid`, the server lives no longer than that process: its supervisor stops it once the owner is gone.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    master: str = "local[*]"
    conf: dict = field(default_factory=dict)
    owner_pid: int | None = None

    @property
    def url(self) -> str:
        return f"sc://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"server-{self.port}.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"server-{self.port}.log"

    def settings(self) -> dict[str, str]:
        """Every --conf the server starts with: Delta, jars, binding, Python workers on this venv, s3a when wanted."""
        local = self.master.startswith("local")
        jars = jar_paths(DEFAULT_JAR_DIR) if DEFAULT_JAR_DIR.is_dir() else []
        jar_conf = ({"spark.jars": ",".join(str(j) for j in jars)} if jars
                    else {"spark.jars.packages": ",".join(delta_coordinates())})
        return s3a.add_to({
            **(LOCAL_DEFAULTS if local else {}),
            **({"spark.default.parallelism": str(os.cpu_count() or 2)} if local else {}),
            **AQE_CONF, **LOG4J_CONF, **DELTA_CONF, **jar_conf,
            "spark.connect.grpc.binding.address": self.host,
            "spark.connect.grpc.binding.port": str(self.port),
            # Runs reuse a fixed pool of session ids (connect_session.py): an expired session could
            # never be reattached, so sessions live as long as the server.
            "spark.connect.session.manager.defaultSessionTimeout": "-1",
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            **{k: str(v) for k, v in self.conf.items()},
        })

    def command(self) -> list[str]:
        import pyspark

        submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
        args = [str(submit), "--class", SERVER_CLASS, "--master", self.master, "--name", "tweetsent-connect"]
        for key, value in self.settings().items():
            args += ["--conf", f"{key}={value}"]
        return [*args, "spark-internal"]

    def environment(self) -> dict[str, str]:
        """The server's environment; its PYSPARK_PYTHON is the interpreter that Connect's Python UDFs run on."""
        env = {**os.environ, "PYSPARK_PYTHON": self.settings()["spark.pyspark.python"],
               "PYSPARK_DRIVER_PYTHON": sys.executable}
        if self.host in ("127.0.0.1", "localhost"):
            env["SPARK_LOCAL_IP"] = "127.0.0.1"
        return env


def read_state(server: ConnectServer) -> dict | None:
    return services.read_state(server.state_file)


def supervised_here(server: ConnectServer) -> bool:
    """True when a live supervisor on this machine owns the server at this port (it may be restarting)."""
    state = read_state(server)
    return bool(state) and state.get("stopping") is not True and proc_stats.alive(state.get("supervisor_pid"))


def status(server: ConnectServer) -> dict:
    """What `tweetsent spark status` prints: pids, uptime, restarts, memory, Python daemons and workers."""
    state = read_state(server) or {}
    supervisor_alive = proc_stats.alive(state.get("supervisor_pid"))
    server_pid = state.get("server_pid") if supervisor_alive else None
    result = {"url": server.url, "running": supervisor_alive and proc_stats.alive(server_pid),
              "answering": answers(server.host, server.port), "supervisor_pid": state.get("supervisor_pid"),
              "server_pid": server_pid, "master": state.get("master", server.master),
              "restarts": state.get("restarts", 0), "ui_port": state.get("ui_port"), "log": str(server.log_file)}
    if result["running"]:
        result["uptime_s"] = round(time.time() - state.get("started_at", time.time()), 1)
        result.update(proc_stats.server_processes(server_pid))
    return result


def start(server: ConnectServer, wait_s: float = 180.0) -> dict:
    """Start the supervisor (and through it the server) unless one runs; return once the server answers."""
    server.state_dir.mkdir(parents=True, exist_ok=True)
    server.settings()  # bad configuration (an s3a lake without its jars) fails here, not in the supervisor
    if supervised_here(server):
        return wait_until_answering(server, wait_s)
    check_master(server.master)
    if answers(server.host, server.port):
        raise ServerStartError(f"port {server.port} on {server.host} is taken by a process this project does not "
                               f"manage; stop it or choose another port (TWEETSENT_SPARK_CONNECT_PORT)")
    args = [sys.executable, "-m", "tweetsent_assets.lib.lake.connect_server", "supervise",
            "--state-dir", str(server.state_dir), "--host", server.host, "--port", str(server.port),
            "--master", server.master, "--conf-json", json.dumps(server.conf),
            *(["--owner-pid", str(server.owner_pid)] if server.owner_pid else [])]
    with server.log_file.open("ab") as log:
        supervisor = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True, env=server.environment())
    try:
        return wait_until_answering(server, wait_s)
    except BaseException:
        if read_state(server) is None:
            supervisor.terminate()  # stop() finds a supervisor by its state file, which this one has not written yet
        raise


@contextmanager
def running(server: ConnectServer, wait_s: float = 180.0) -> Iterator[ConnectServer]:
    """Start the server and stop it however the block ends: an exception, Ctrl-C, or SIGTERM under exit_on_signals."""
    try:
        start(server, wait_s)
        fault_point("connect-server-up")
        yield server
    finally:
        stop(server)


def wait_until_answering(server: ConnectServer, wait_s: float) -> dict:
    """Block until the server accepts connections; fail with its log's tail if its supervisor gives up."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        state = read_state(server)
        if state and state.get("failed"):
            raise ServerStartError(f"Spark Connect server at {server.url} failed: {state['failed']}\n"
                                   f"{services.log_tail(server.log_file)}")
        if state and proc_stats.alive(state.get("server_pid")) and answers(server.host, server.port):
            return status(server)
        time.sleep(0.25)
    raise ServerStartError(f"Spark Connect server at {server.url} did not answer within {wait_s:.0f} s; "
                           f"its log is {server.log_file}\n{services.log_tail(server.log_file)}")


def stop(server: ConnectServer, wait_s: float = 60.0) -> bool:
    """Ask the supervisor to stop the server and itself; False when none was running."""
    state = read_state(server)
    pid = (state or {}).get("supervisor_pid")
    if not proc_stats.alive(pid):
        server.state_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and (proc_stats.alive(pid) or proc_stats.alive(state.get("server_pid"))):
        time.sleep(0.2)
    for leftover in (state.get("server_pid"), pid):
        if proc_stats.alive(leftover):
            os.kill(leftover, signal.SIGKILL)
    server.state_file.unlink(missing_ok=True)
    return True


def supervise(server: ConnectServer) -> int:
    """Run the server and start it again whenever it dies, until SIGTERM or its owner's end; the supervisor's loop."""
    stopping = {"now": False}
    child: dict[str, subprocess.Popen | None] = {"server": None}

    def on_term(signum, frame) -> None:
        stopping["now"] = True
        if child["server"] is not None and child["server"].poll() is None:
            child["server"].terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    state = {"supervisor_pid": os.getpid(), "url": server.url, "master": server.master, "restarts": 0,
             "log": str(server.log_file), "owner_pid": server.owner_pid}
    fast_deaths = 0
    while not stopping["now"] and owner_alive(server):
        started = time.time()
        # A fixed UI port, which clients read back with spark.conf.get (stage_metrics.py).
        run = replace(server, conf={"spark.ui.port": services.free_port(server.host), **server.conf})
        child["server"] = subprocess.Popen(run.command(), stdin=subprocess.DEVNULL, env=run.environment())
        services.write_state(server.state_file, {**state, "server_pid": child["server"].pid, "started_at": started,
                                                 "ui_port": int(run.conf["spark.ui.port"])})
        if stopping["now"]:
            child["server"].terminate()  # SIGTERM came between the loop's test and the start
        code = wait_or_stop(child["server"], server, lambda: on_term(signal.SIGTERM, None))
        if stopping["now"]:
            break
        fast_deaths = fast_deaths + 1 if time.time() - started < FAST_DEATH_S else 0
        print(f"tweetsent supervisor: Spark Connect server (pid {child['server'].pid}) exited with {code}; "
              f"restarting", flush=True)
        if fast_deaths >= MAX_FAST_DEATHS:
            failed = f"exited {fast_deaths} times within {FAST_DEATH_S:.0f} s of starting (last exit code {code})"
            services.write_state(server.state_file, {**state, "failed": failed})
            return 1
        state["restarts"] += 1
        time.sleep(min(5.0, 0.5 * 2 ** fast_deaths))
    if child["server"] is not None:
        services.end_process(child["server"], wait_s=30)
    server.state_file.unlink(missing_ok=True)
    return 0


def owner_alive(server: ConnectServer) -> bool:
    """True unless the server has an owner process and it is gone."""
    return server.owner_pid is None or proc_stats.alive(server.owner_pid)


def wait_or_stop(process: subprocess.Popen, server: ConnectServer, stop) -> int:
    """Wait for the server process to exit; once its owner is gone meanwhile, call `stop` as SIGTERM would."""
    stopped = False
    while True:
        try:
            return process.wait(timeout=OWNER_POLL_S)
        except subprocess.TimeoutExpired:
            if not stopped and not owner_alive(server):
                print(f"tweetsent supervisor: owner {server.owner_pid} is gone; stopping the server", flush=True)
                stop()
                stopped = True


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tweetsent_assets.lib.lake.connect_server")
    parser.add_argument("action", choices=["supervise"])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--conf-json", default="{}")
    parser.add_argument("--owner-pid", type=int, default=None, help="stop the server once this process is gone")
    args = parser.parse_args(argv)
    server = ConnectServer(state_dir=Path(args.state_dir), host=args.host, port=args.port, master=args.master,
                           conf=json.loads(args.conf_json), owner_pid=args.owner_pid)
    return supervise(server)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

