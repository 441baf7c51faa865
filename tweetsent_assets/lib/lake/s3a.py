"""The lake on S3: Spark's s3a settings, delta-rs's storage options and a fast bucket check, from one AWS chain.

The endpoint is AWS_ENDPOINT_URL (MinIO, moto; unset for AWS itself) and the region AWS_REGION. Credentials
are never configuration: Python reads them through boto3's chain (env vars, AWS_PROFILE, instance roles)
and Spark through the AWS SDK's default chain (the same sources), so none appears on a command line.

Delta on S3 is safe for concurrent writers only when one driver commits (Delta's default
S3SingleDriverLogStore for s3a://), or with Delta's DynamoDB log store. This project relies on one
driver: the long-lived Spark Connect server is the only JVM that writes the lake, and every Dagster
run is a Connect client of it. In-process Spark on an s3a:// lake is for a single run at a time.
"""
from __future__ import annotations

import functools
import os
from urllib.parse import urlparse

from .spark_jars import S3A_JAR_DIR, s3a_jar_paths

CREDENTIALS_PROVIDER = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
CHECK_TIMEOUT_S = 3.0
_ON, _OFF = ("1", "true", "on", "yes"), ("0", "false", "off", "no")
_requested: set[str] = set()
_checked: set[tuple[str, str | None]] = set()


class LakeStorageError(OSError):
    """The S3 lake cannot be used as configured; the message names the bucket, the endpoint and the cause.

    An OSError, so the console reports it as a storage failure (a message, no traceback)."""


def is_s3(path: str) -> bool:
    return path.startswith(("s3a://", "s3://"))


def bucket_of(url: str) -> str:
    parsed = urlparse(url)
    if not is_s3(url) or not parsed.netloc:
        raise ValueError(f"{url!r} is not an s3a://bucket/prefix URL")
    return parsed.netloc


def endpoint_url() -> str | None:
    """AWS_ENDPOINT_URL (e.g. http://127.0.0.1:9000 for MinIO or moto); None means AWS S3 itself."""
    return os.environ.get("AWS_ENDPOINT_URL", "").strip() or None


def region() -> str:
    """AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region, else us-east-1."""
    configured = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if configured:
        return configured
    return _boto_session().region_name or "us-east-1"


def wanted(lake_root: str | None = None) -> bool:
    """Whether Spark sessions of this process (or a Connect server it starts) need s3a.

    TWEETSENT_S3A=on/off decides outright; by default (auto) s3a is used when the lake root
    (TWEETSENT_LAKE_ROOT, or one a LakeResource requested) is s3a://.
    """
    choice = os.environ.get("TWEETSENT_S3A", "auto").strip().lower() or "auto"
    if choice in _ON:
        return True
    if choice in _OFF:
        return False
    if choice != "auto":
        raise ValueError(f"TWEETSENT_S3A={choice!r} must be auto, on or off")
    root = lake_root or os.environ.get("TWEETSENT_LAKE_ROOT", "")
    return root.startswith("s3a://") or bool(_requested)


def request(lake_root: str) -> None:
    """Ask for s3a in this process's Spark session, which must not exist yet (its jars are fixed at start)."""
    if lake_root.startswith("s3a://"):
        _requested.add(lake_root)


def spark_conf() -> dict[str, str]:
    """The spark.hadoop.fs.s3a.* settings: endpoint, path style and SSL for a custom endpoint, credentials, fast failure.

    Retries are few and short, so a missing bucket, bad credentials or an unreachable endpoint
    fail a write in seconds instead of the S3A defaults' minutes.
    """
    endpoint = endpoint_url()
    conf = {
        "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "fs.s3a.aws.credentials.provider": CREDENTIALS_PROVIDER,
        "fs.s3a.endpoint.region": region(),
        "fs.s3a.attempts.maximum": "2",
        "fs.s3a.retry.limit": "3",
        "fs.s3a.retry.interval": "250ms",
        "fs.s3a.retry.throttle.limit": "5",
        "fs.s3a.retry.throttle.interval": "500ms",
        "fs.s3a.connection.establish.timeout": "5s",
        "fs.s3a.connection.timeout": "30s",
    }
    if endpoint:
        conf.update({"fs.s3a.endpoint": endpoint, "fs.s3a.path.style.access": "true",
                     "fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https://")).lower()})
    return {f"spark.hadoop.{key}": value for key, value in conf.items()}


def add_to(settings: dict[str, str], lake_root: str | None = None) -> dict[str, str]:
    """`settings` plus the s3a jars and spark_conf() when s3a is wanted; unchanged otherwise. Keys in `settings` win."""
    if not wanted(lake_root):
        return settings
    jars = s3a_jar_paths(S3A_JAR_DIR)
    if not jars:
        raise LakeStorageError(f"an s3a:// lake needs hadoop-aws and the AWS SDK, which are not installed in "
                               f"{S3A_JAR_DIR}; run `make jars-s3`")
    listed = [j for j in settings.get("spark.jars", "").split(",") if j]
    return {**spark_conf(), **settings, "spark.jars": ",".join(listed + [str(j) for j in jars])}


def delta_rs_uri(path: str) -> str:
    """The URI delta-rs (the `deltalake` package) reads: s3a:// becomes s3://."""
    return "s3://" + path.removeprefix("s3a://") if path.startswith("s3a://") else path


def storage_options() -> dict[str, str]:
    """delta-rs options for the lake's S3, from boto3's credential chain and AWS_ENDPOINT_URL."""
    credentials = _boto_session().get_credentials()
    if credentials is None:
        raise LakeStorageError(f"no AWS credentials for the lake at {endpoint_url() or 'AWS S3'}; set "
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
    frozen = credentials.get_frozen_credentials()
    options = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
               "AWS_REGION": region(), "connect_timeout": "5s", "timeout": "30s", "max_retries": "2"}
    if frozen.token:
        options["AWS_SESSION_TOKEN"] = frozen.token
    endpoint = endpoint_url()
    if endpoint:
        options.update({"AWS_ENDPOINT_URL": endpoint, "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
                        "AWS_ALLOW_HTTP": str(endpoint.startswith("http://")).lower()})
    return options


def check_bucket(url: str, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Fail within seconds, naming bucket, endpoint and cause, when the lake's bucket cannot be used.

    One HEAD request with short timeouts and no retries; a success is remembered for the process.
    """
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, endpoint = bucket_of(url), endpoint_url()
    if (bucket, endpoint) in _checked:
        return
    where = f"bucket {bucket!r} at {endpoint or 'AWS S3'} (lake {url})"
    config = Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": "path"} if endpoint else None)
    try:
        session = _boto_session()
        session.client("s3", endpoint_url=endpoint, region_name=region(), config=config).head_bucket(Bucket=bucket)
    except NoCredentialsError:
        raise LakeStorageError(f"no AWS credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                               "or AWS_PROFILE") from None
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code")
        if status == 404 or code in ("404", "NoSuchBucket"):
            raise LakeStorageError(f"{where} does not exist: create it, or point TWEETSENT_LAKE_ROOT at "
                                   "an existing bucket") from None
        if status == 403:
            key = getattr(session.get_credentials(), "access_key", None) or "?"
            raise LakeStorageError(f"access to {where} denied (HTTP 403): the AWS credentials (access key "
                                   f"{key[:4]}…) are wrong, or lack s3:ListBucket on it") from None
        raise LakeStorageError(f"{where} cannot be used: HTTP {status} {code}: {exc}") from None
    except BotoCoreError as exc:
        raise LakeStorageError(f"{where} cannot be reached: {exc}") from None
    _checked.add((bucket, endpoint))


def _boto_session():
    """boto3's session for the current credential settings; one per distinct environment (a new one costs ~50 ms)."""
    keys = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
            "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")
    return _session_for(tuple(os.environ.get(k) for k in keys))


@functools.lru_cache(maxsize=8)
def _session_for(environment: tuple) -> object:
    import boto3

    return boto3.Session()
