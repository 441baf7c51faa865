"""The project's own code as a zip for a cluster's executors, which have its dependencies but not its code.

Spark pickles the functions given to mapInPandas by reference (module and name), so an executor's
Python worker must import `tweetsent_assets` itself. A remote cluster gets it the way Spark ships
code: `spark.submit.pyFiles` for an in-process driver, session artifacts over Spark Connect.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parents[2]
# pyspark's addArtifacts(pyfile=True) calls importlib.invalidate_caches(), which races in CPython 3.11
# when two threads call it at once (KeyError on a sys.path entry).
_ADDING = threading.Lock()


def _package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def code_version() -> str:
    """A hash of the package's files: the zip's name, so a code change ships as a new artifact."""
    digest = hashlib.sha256()
    for path in _package_files():
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def package_zip(cache_dir: Path | None = None) -> Path:
    """The package zipped (built once per code version, atomically) into `cache_dir` or a temp folder."""
    folder = Path(cache_dir or os.path.join(tempfile.gettempdir(), "tweetsent-pyfiles"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"tweetsent_assets-{code_version()}.zip"
    if target.exists():
        return target
    partial = target.with_suffix(f".{os.getpid()}.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _package_files():
            archive.write(path, path.relative_to(PACKAGE.parent).as_posix())
    partial.replace(target)
    return target


def ship_to_connect_session(session) -> str:
    """Add the zip to a Connect session's Python artifacts; the server hands it to every executor of the session.

    Sessions are reused across runs, so a zip the session already holds (same code version) is
    not an error. Returns the zip's file name.
    """
    archive = package_zip()
    try:
        with _ADDING:
            session.addArtifacts(str(archive), pyfile=True)
    except Exception as exc:
        if "ALREADY_EXISTS" not in str(exc).upper().replace(" ", "_"):
            raise
        log.debug("session already holds %s", archive.name)
    return archive.name
