"""`tweetsent serve` over real HTTP, on a registry in a temporary folder whose champion is VADER.

One server answers the scoring and error tests, follows the alias to a second version while a client
sends requests without pause, and is stopped by Ctrl-C; a second one is stopped by SIGTERM while its
model server is still starting; a third is SIGKILLed, and its model server must stop by itself. Every
process they start carries a marker, checked on /proc.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from tweetsent_assets.lib.lake import owned
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.registry import log_and_register, promote

from ..processes import MARK, STOP_WITHIN_S, left_after, marked, start_group, stop_and_wait, wait_for_http
from ..support import PROJECT_ROOT, free_port
from .test_scoring_requests import BAD, GOOD, MAX_BATCH, TWEETS

pytestmark = pytest.mark.serving

SWITCH_WITHIN_S = 30.0


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A sqlite registry whose champion is VADER, version 1."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("tweetsent-serving", artifact_location=(root / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    promote(client, log_and_register(client, run_id, ModelSpec(kind="vader", model=None, name="vader")))
    return SimpleNamespace(root=root, uri=uri, client=client, run_id=run_id)


def _serve(registry, name: str):
    """`tweetsent serve` on a free port in a group of its own (as a terminal runs it), with a fresh marker."""
    port, marker, log = free_port(), uuid.uuid4().hex, registry.root / f"{name}.log"
    env = {**os.environ, MARK: marker, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "tweetsent_assets.cli.main", "serve", "--port", str(port), "--poll-s", "1",
               "--max-batch", str(MAX_BATCH), "--tracking-uri", registry.uri, "--log-dir", str(registry.root / name)]
    return SimpleNamespace(process=start_group(command, env, log), port=port, marker=marker, log=log)


@pytest.fixture(scope="module")
def server(registry):
    started = _serve(registry, "serve")
    wait_for_http(f"http://127.0.0.1:{started.port}/ping", started.process, started.log, timeout_s=180)
    yield started
    if started.process.poll() is None:
        stop_and_wait(started.process, signal.SIGTERM, started.marker, started.log)


def _post(connection: http.client.HTTPConnection, body: bytes, content_type: str = "application/json"):
    """(status, X-Model-Version, JSON answer) of one scoring request."""
    connection.request("POST", "/invocations", body, {"Content-Type": content_type})
    response = connection.getresponse()
    return response.status, response.getheader("X-Model-Version"), json.loads(response.read())


@pytest.fixture
def connection(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    yield connection
    connection.close()


def test_one_tweet_is_scored_and_the_version_named(connection):
    status, version, answer = _post(connection, json.dumps({"inputs": ["great flight, the crew was amazing :)"]}).encode())
    assert (status, version, answer["model_version"]) == (200, "1", "1")
    [prediction] = answer["predictions"]
    assert prediction["label"] == "positive"
    assert sum(prediction[f"p_{label}"] for label in ("negative", "neutral", "positive")) == pytest.approx(1.0)
    connection.request("GET", "/version")
    assert json.loads(connection.getresponse().read())["version"] == "1"


@pytest.mark.parametrize("payload", GOOD.values(), ids=GOOD.keys())
def test_mlflow_input_formats_are_accepted(connection, payload):
    status, _, answer = _post(connection, json.dumps(payload).encode())
    assert status == 200 and [p["label"] for p in answer["predictions"]] == ["positive", "negative"]


@pytest.mark.parametrize("body, status, phrase", [*BAD.values(), (b'{"inputs": ["a"]}', 415, "text/csv")],
                         ids=[*BAD.keys(), "not JSON content"])
def test_a_bad_request_gets_a_4xx_naming_it_and_the_server_stays_up(connection, body, status, phrase):
    content_type = "text/csv" if status == 415 else "application/json"
    got, _, answer = _post(connection, body, content_type)
    assert got == status and phrase in answer["message"], answer
    assert _post(connection, json.dumps({"inputs": TWEETS}).encode())[0] == 200


def test_a_moved_alias_is_served_within_30_s_without_a_failed_request(server, registry):
    version = log_and_register(registry.client, registry.run_id, ModelSpec(kind="vader", model=None, name="vader-2"))
    answers: list[tuple[float, int | str, str | None]] = []
    done = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        while not done.is_set():
            try:
                status, served, _ = _post(connection, json.dumps({"inputs": TWEETS[:1]}).encode())
                answers.append((time.monotonic(), status, served))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                answers.append((time.monotonic(), repr(exc), None))
                connection.close()
            time.sleep(0.01)

    sender = threading.Thread(target=client, daemon=True)
    sender.start()
    time.sleep(1)
    moved = time.monotonic()
    promote(registry.client, version)
    while time.monotonic() - moved < SWITCH_WITHIN_S and not any(a[2] == version for a in answers):
        time.sleep(0.2)
    time.sleep(2)
    done.set()
    sender.join(35)
    failed = [a for a in answers if a[1] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, first: {failed[0]}"
    first_new = next((at for at, _, served in answers if served == version), None)
    assert first_new is not None, f"version {version} not served {SWITCH_WITHIN_S:.0f} s after the alias moved"
    assert {served for at, _, served in answers if at > first_new} == {version}
    print(f"version {version} served {first_new - moved:.1f} s after the alias moved; {len(answers)} requests")
    deadline = time.monotonic() + 10
    while any("tweet-sentiment/1 " in line for line in marked(server.marker).values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [line for line in marked(server.marker).values() if "tweet-sentiment/1 " in line], "version 1 still runs"


def test_ctrl_c_stops_the_front_and_every_model_server(server):
    assert len(marked(server.marker)) >= 3, marked(server.marker)
    took = stop_and_wait(server.process, signal.SIGINT, server.marker, server.log)
    print(f"stopped in {took:.1f} s")


def test_sigterm_while_the_model_server_starts_leaves_nothing(registry):
    started = _serve(registry, "starting")
    deadline = time.monotonic() + 60
    while not any("models serve" in line for line in marked(started.marker).values()) and time.monotonic() < deadline:
        assert started.process.poll() is None, started.log.read_text()
        time.sleep(0.1)
    stop_and_wait(started.process, signal.SIGTERM, started.marker, started.log)
    assert "stopped on SIGTERM" in started.log.read_text()


def test_sigkill_of_serve_leaves_no_model_server(registry):
    started = _serve(registry, "killed")
    wait_for_http(f"http://127.0.0.1:{started.port}/ping", started.process, started.log, timeout_s=180)
    assert any("models serve" in line for line in marked(started.marker).values())
    os.kill(started.process.pid, signal.SIGKILL)
    started.process.wait(timeout=5)
    left = left_after(started.marker, owned.POLL_S + owned.GRACE_S + STOP_WITHIN_S)
    assert not left, "\n".join(line[:200] for line in left.values())


def test_a_missing_registry_is_named_and_nothing_starts(tmp_path, capsys):
    from tweetsent_assets.cli.main import main

    missing = tmp_path / "no" / "mlflow.db"
    assert main(["serve", "--port", str(free_port()), "--tracking-uri", f"sqlite:///{missing}"]) == 1
    assert f"no MLflow registry at {missing}" in capsys.readouterr().err and not missing.parent.exists()
