"""One interface over S3 (AWS, MinIO, moto) and a local folder, for landing objects and run state."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Iterator, Protocol
from urllib.parse import urlparse


class UnsafeKeyError(ValueError):
    """An object key that would resolve outside the store's root."""


@dataclass(frozen=True)
class ObjectInfo:
    """A listed object: its key relative to the store, content tag, modification time and size."""

    key: str
    etag: str
    last_modified: datetime
    size: int


class ObjectStore(Protocol):
    url: str

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]: ...

    def get(self, key: str) -> tuple[bytes, str]: ...

    def put(self, key: str, data: bytes) -> str: ...

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str: ...


def safe_key(key: str) -> str:
    """The key as a clean relative POSIX path, or UnsafeKeyError if it is absolute or climbs out."""
    if not key or "\x00" in key or key.startswith(("/", "\\")) or ":" in key.split("/", 1)[0]:
        raise UnsafeKeyError(f"object key {key!r} is empty, absolute or has a drive/scheme")
    parts = PurePosixPath(key.replace("\\", "/")).parts
    if not parts or any(part in ("..", ".") for part in parts):  # "." and "./" name the root itself
        raise UnsafeKeyError(f"object key {key!r} contains '.' or '..' segments")
    return "/".join(parts)


class LocalObjectStore:
    """A folder that behaves like a bucket prefix; the etag is size and mtime, cheap to list."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / safe_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise UnsafeKeyError(f"object key {key!r} resolves outside {self.root}")
        return path

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix` (and sorts after `start_after`), in key order.

        Only the prefix's folder is walked; with `start_after`, folders whose keys all sort before it
        are not entered and earlier files are not stat'ed, so listing from the last key stays cheap.
        """
        folder = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return
        for key, path in self._walk(folder, start_after or ""):
            if key.startswith(prefix) and not path.name.startswith(".tmp-"):
                stat = path.stat()
                yield ObjectInfo(
                    key=key,
                    etag=_stat_etag(stat),
                    last_modified=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc),
                    size=stat.st_size,
                )

    def _walk(self, folder: Path, after: str) -> Iterator[tuple[str, Path]]:
        """(key, path) of the files under `folder` whose key sorts after `after`, in key order."""
        base = "" if folder == self.root else folder.relative_to(self.root).as_posix() + "/"
        entries = []
        with os.scandir(folder) as scan:
            for entry in scan:
                key = base + entry.name
                if entry.is_dir(follow_symlinks=False):
                    below = key + "/"
                    if not after or below >= after or after.startswith(below):
                        entries.append((below, entry))
                elif key > after:
                    entries.append((key, entry))
        for key, entry in sorted(entries, key=lambda item: item[0]):
            if key.endswith("/"):
                yield from self._walk(Path(entry.path), after)
            elif entry.is_file():
                yield key, Path(entry.path)

    def get(self, key: str) -> tuple[bytes, str]:
        path = self._path(key)
        with path.open("rb") as handle:
            return handle.read(), _stat_etag(os.fstat(handle.fileno()))

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return _stat_etag(path.stat())

    def delete(self, key: str) -> None:
        """Removes the object; one that does not exist is no error, as on S3."""
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        """file:// URI of the key as named (links are not followed); UnsafeKeyError for keys that climb out."""
        return (self.root / safe_key(key)).as_uri()


class S3ObjectStore:
    """A bucket prefix reached with boto3 and the standard credential chain."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None)

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects under `prefix`, in key order; with `start_after`, S3 itself starts after that key."""
        paginator = self._client.get_paginator("list_objects_v2")
        after = {"StartAfter": self.prefix + start_after} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, **after):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                if key and not key.endswith("/"):
                    yield ObjectInfo(key=key, etag=item["ETag"].strip('"'),
                                     last_modified=item["LastModified"].astimezone(timezone.utc),
                                     size=item["Size"])

    def get(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and etag; FileNotFoundError when it does not exist, as for a folder."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"no object {self.uri(key)}") from None
        return response["Body"].read(), response["ETag"].strip('"')

    def put(self, key: str, data: bytes) -> str:
        response = self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        return response["ETag"].strip('"')

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"


def open_store(url: str, endpoint_url: str | None = None, region: str | None = None) -> ObjectStore:
    """`s3://bucket/prefix` (also s3a://) opens S3; anything else is a local folder."""
    parsed = urlparse(url)
    if parsed.scheme in ("s3", "s3a"):
        if not parsed.netloc:
            raise ValueError(f"S3 URL {url!r} has no bucket; expected s3://bucket/prefix")
        return S3ObjectStore(parsed.netloc, parsed.path, endpoint_url=endpoint_url, region=region)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"unsupported object store URL {url!r}: use s3://bucket/prefix or a folder path")
    return LocalObjectStore(parsed.path if parsed.scheme == "file" else url)


def _stat_etag(stat: os.stat_result) -> str:
    return f"{stat.st_size:x}-{stat.st_mtime_ns:x}"
