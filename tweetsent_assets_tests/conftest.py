"""Session-wide fixtures: the one Delta SparkSession (in-process or on a Connect server), moto S3, fake AWS credentials,
and SIGTERM handled like Ctrl-C."""
from __future__ import annotations

import os
import re

import boto3
import pytest

from tweetsent_assets.lib.lake.services import exit_on_signals

from .support import FAKE_AWS_ENV, SuiteSpark, connect_server_running, moto_s3_server, use_test_spark


@pytest.fixture(scope="session", autouse=True)
def signals_end_the_session():
    """SIGTERM and SIGHUP end the session as Ctrl-C does, so fixtures still stop the servers they started."""
    with exit_on_signals(KeyboardInterrupt):
        yield


@pytest.fixture(scope="session")
def test_spark(tmp_path_factory):
    """Where the suite's Spark runs: in-process local[2], or (TWEETSENT_TEST_SPARK=connect) a real Connect server."""
    if os.environ.get("TWEETSENT_TEST_SPARK", "in-process") != "connect":
        yield SuiteSpark(master="local[2]")
        return
    with connect_server_running(tmp_path_factory.mktemp("spark-connect")) as server:
        yield SuiteSpark(master=server.url, state_dir=str(server.state_dir))


@pytest.fixture(scope="session")
def spark(test_spark):
    """The process's only SparkSession, created first so Delta's configuration is in place."""
    from tweetsent_assets.lib.lake.spark_session import get_spark, stop_spark

    use_test_spark(test_spark)
    session = get_spark(test_spark.master, "tweetsent-tests", state_dir=test_spark.state_dir)
    yield session
    stop_spark()


@pytest.fixture(scope="session")
def aws_env():
    """Fake credentials in the process environment (Spark's Python workers inherit them too)."""
    saved = {k: os.environ.get(k) for k in FAKE_AWS_ENV}
    os.environ.update(FAKE_AWS_ENV)
    yield FAKE_AWS_ENV
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def s3_endpoint(aws_env):
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint, request):
    """A fresh bucket per test, named after it."""
    name = "t-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:50].strip("-")
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name
