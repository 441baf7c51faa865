"""Session-wide fixtures: the one Delta SparkSession, a moto S3 server, fake AWS credentials."""
from __future__ import annotations

import os
import re

import boto3
import pytest

from .support import FAKE_AWS_ENV, moto_s3_server


@pytest.fixture(scope="session")
def spark():
    """The process's only SparkSession, created first so Delta's configuration is in place."""
    from tweetsent_assets.lib.lake.spark_session import get_spark, stop_spark

    session = get_spark("local[2]", "tweetsent-tests")
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
