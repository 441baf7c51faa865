"""Resolve the JVM jars Spark needs for Delta (and optionally s3a) into a folder with Maven.

Spark's own Ivy resolver is the fallback; a pre-resolved folder makes session start-up
deterministic and offline once installed. The s3a jars (hadoop-aws and the AWS SDK bundle, hundreds
of MB) go to their own folder, `.jars/s3a/`, so only sessions that use an s3a:// lake load them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

SCALA_BINARY = "2.13"
# The delta-spark 4.4.1 wheel is a Python-only patch release: Maven Central's newest jar is 4.4.0.
DELTA_JAR_VERSION = os.environ.get("TWEETSENT_DELTA_JAR_VERSION", "4.4.0")
DEFAULT_JAR_DIR = Path(os.environ.get("TWEETSENT_JAR_DIR", Path(__file__).resolve().parents[3] / ".jars"))
S3A_JAR_DIR = Path(os.environ.get("TWEETSENT_S3A_JAR_DIR", DEFAULT_JAR_DIR / "s3a"))


def delta_coordinates() -> list[str]:
    """Maven coordinates of the Delta jars matching the installed delta-spark Python package."""
    spark_minor = ".".join(version("pyspark").split(".")[:2])
    return [f"io.delta:delta-spark_{spark_minor}_{SCALA_BINARY}:{DELTA_JAR_VERSION}"]


def s3a_coordinates() -> list[str]:
    """hadoop-aws matching the Hadoop client bundled with the installed pyspark."""
    return [f"org.apache.hadoop:hadoop-aws:{bundled_hadoop_version()}"]


def bundled_hadoop_version() -> str:
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    for jar in jars.glob("hadoop-client-api-*.jar"):
        return jar.stem.removeprefix("hadoop-client-api-")
    raise RuntimeError(f"no hadoop-client-api jar in {jars}; is pyspark installed correctly?")


def _pom(coordinates: list[str]) -> str:
    deps = []
    for coordinate in coordinates:
        group, artifact, ver = coordinate.split(":")
        deps.append(f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
                    f"<version>{ver}</version></dependency>")
    return ("<project xmlns='http://maven.apache.org/POM/4.0.0'><modelVersion>4.0.0</modelVersion>"
            "<groupId>tweetsent</groupId><artifactId>jars</artifactId><version>1</version>"
            f"<dependencies>{''.join(deps)}</dependencies></project>")


def fetch_jars(dest: Path = DEFAULT_JAR_DIR, with_s3a: bool = False) -> list[Path]:
    """Copy the Delta jars with their runtime dependencies into `dest` (and the s3a jars into `dest`/s3a), via `mvn`."""
    _mvn_copy(delta_coordinates(), dest)
    if with_s3a:
        fetch_s3a_jars(dest / "s3a")
    return jar_paths(dest)


def fetch_s3a_jars(dest: Path = S3A_JAR_DIR) -> list[Path]:
    """Copy hadoop-aws and its AWS SDK v2 bundle into `dest`, via `mvn`; the jars pyspark ships are left out."""
    _mvn_copy(s3a_coordinates(), dest)
    return jar_paths(dest)


def s3a_jar_paths(dest: Path = S3A_JAR_DIR) -> list[Path]:
    """The installed s3a jars (`make jars-s3`); empty when they are not installed."""
    jars = jar_paths(dest) if dest.is_dir() else []
    return jars if any(_artifact(j.name) == "hadoop-aws" for j in jars) else []


def size_mib(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 2 ** 20


def _mvn_copy(coordinates: list[str], dest: Path) -> None:
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn is not on PATH; install Maven or let Spark resolve "
                           f"spark.jars.packages={','.join(coordinates)} itself")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        Path(work, "pom.xml").write_text(_pom(coordinates))
        done = subprocess.run(
            ["mvn", "-q", "-B", "-Dstyle.color=never", "dependency:copy-dependencies", f"-DoutputDirectory={dest}",
             "-DincludeScope=runtime", "-Dmdep.overWriteIfNewer=true"],
            cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(f"mvn could not copy {', '.join(coordinates)} into {dest} (exit {done.returncode}):\n{tail}")


def jar_paths(dest: Path = DEFAULT_JAR_DIR) -> list[Path]:
    """Jars in `dest` that Spark does not already ship (its own copies win on conflicts)."""
    import pyspark

    bundled = {_artifact(j.name) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return sorted(j for j in dest.glob("*.jar") if _artifact(j.name) not in bundled)


def _artifact(jar_name: str) -> str:
    stem = jar_name.removesuffix(".jar")
    parts = stem.split("-")
    while len(parts) > 1 and parts[-1][:1].isdigit():
        parts.pop()
    return "-".join(parts)


if __name__ == "__main__":
    if "--s3a" in sys.argv:
        paths = fetch_s3a_jars()
        print(f"{len(paths)} s3a jars, {size_mib(paths):.0f} MiB, in {S3A_JAR_DIR}: {', '.join(p.name for p in paths)}")
    else:
        paths = fetch_jars()
        print(f"{len(paths)} jars in {DEFAULT_JAR_DIR}: {', '.join(p.name for p in paths)}")
