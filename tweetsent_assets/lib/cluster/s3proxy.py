"""S3Proxy (org.gaul:s3proxy) for the topology: its jar, fetched with `mvn`, and its properties file.

S3Proxy keeps objects as files under a folder, so the lake, landing and MLflow artifacts outlive the
process. Its legacy `filesystem` backend is used: `filesystem-nio2` answers a HEAD on a directory
marker as a file, so s3a's mkdirs of Delta's `_delta_log/_staged_commits` fails with "Path is a file".
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..lake.spark_jars import DEFAULT_JAR_DIR

VERSION = os.environ.get("TWEETSENT_S3PROXY_VERSION", "2.6.0")
COORDINATE = f"org.gaul:s3proxy:{VERSION}:jar:jar-with-dependencies"
JAR_DIR = Path(os.environ.get("TWEETSENT_S3PROXY_JAR_DIR", DEFAULT_JAR_DIR / "s3proxy"))
BACKEND = "filesystem"


class S3ProxyMissing(RuntimeError):
    """S3Proxy's jar is not installed; the message says how to install it."""


def jar_path(folder: Path = JAR_DIR) -> Path:
    """The installed jar; raises S3ProxyMissing naming the folder and `make jars-s3proxy` when it is not there."""
    jar = folder / f"s3proxy-{VERSION}-jar-with-dependencies.jar"
    if not jar.is_file():
        raise S3ProxyMissing(f"S3Proxy {VERSION} is not installed in {folder}; run `make jars-s3proxy` "
                             f"(or set TWEETSENT_S3_SERVER=moto for an in-memory S3 that forgets everything)")
    return jar


def fetch_jar(folder: Path = JAR_DIR) -> Path:
    """Copy S3Proxy's self-contained jar (41 MB) from Maven into `folder` with `mvn dependency:copy`."""
    if shutil.which("mvn") is None:
        raise RuntimeError(f"mvn is not on PATH; install Maven to fetch {COORDINATE}")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run(["mvn", "-q", "-B", "-Dstyle.color=never", "dependency:copy", f"-Dartifact={COORDINATE}",
                               f"-DoutputDirectory={folder}"], cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"mvn could not copy {COORDINATE} into {folder} (exit {done.returncode}):\n{tail}")
    return jar_path(folder)


def write_properties(path: Path, host: str, port: int, objects_dir: Path, access_key: str, secret_key: str) -> Path:
    """S3Proxy's configuration: one endpoint, AWS v2/v4 signatures with the given keys, objects under `objects_dir`.

    It holds the secret key, so the file is made readable by its owner only.
    """
    objects_dir.mkdir(parents=True, exist_ok=True)
    lines = {
        "s3proxy.endpoint": f"http://{host}:{port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": access_key,
        "s3proxy.credential": secret_key,
        "jclouds.provider": BACKEND,
        "jclouds.filesystem.basedir": str(objects_dir.resolve()),
        "jclouds.identity": access_key,
        "jclouds.credential": secret_key,
    }
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
    return path


def command(properties: Path, java: str | None = None) -> list[str]:
    """The command line that serves S3 with `properties` (Java from JAVA_HOME, else the PATH)."""
    java = java or (str(Path(os.environ["JAVA_HOME"], "bin", "java")) if os.environ.get("JAVA_HOME") else "java")
    return [java, "-Xmx512m", "-jar", str(jar_path()), "--properties", str(properties)]


if __name__ == "__main__":
    jar = fetch_jar()
    print(f"S3Proxy {VERSION}: {jar} ({jar.stat().st_size / 2 ** 20:.0f} MiB)")
    sys.exit(0)
