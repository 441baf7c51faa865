"""LocalObjectStore, key safety, open_store and S3ObjectStore against a moto server."""
from __future__ import annotations

import os
from datetime import timezone

import pytest

from tweetsent_assets.lib.ingest.object_store import (
    LocalObjectStore,
    S3ObjectStore,
    UnsafeKeyError,
    open_store,
    safe_key,
)

UNSAFE_KEYS = ["../x", "a/../../x", "a/..", "..", "/abs", "\\abs", "C:/x", "c:", "a\\..\\b", "", "a\x00b",
               ".", "./", "s3:/x"]


def test_local_put_get_list_round_trip(tmp_path):
    store = LocalObjectStore(tmp_path / "landing")
    etag_a = store.put("a.jsonl", b"first")
    etag_b = store.put("2024/05/01/b.jsonl", b"second object")
    assert store.get("a.jsonl") == (b"first", etag_a)
    assert store.get("2024/05/01/b.jsonl") == (b"second object", etag_b)
    listed = list(store.list())
    assert [o.key for o in listed] == ["2024/05/01/b.jsonl", "a.jsonl"]
    assert {o.key: o.etag for o in listed} == {"a.jsonl": etag_a, "2024/05/01/b.jsonl": etag_b}
    assert {o.key: o.size for o in listed} == {"a.jsonl": 5, "2024/05/01/b.jsonl": 13}
    for info in listed:
        assert info.last_modified.tzinfo is not None and info.last_modified.utcoffset().total_seconds() == 0
    assert (tmp_path / "landing" / "2024" / "05" / "01" / "b.jsonl").read_bytes() == b"second object"


def test_local_etag_changes_with_content(tmp_path):
    store = LocalObjectStore(tmp_path)
    first = store.put("k.json", b"one")
    second = store.put("k.json", b"three")
    assert first != second
    assert store.get("k.json") == (b"three", second)
    assert [o.etag for o in store.list()] == [second]


def test_local_tmp_files_not_listed_and_missing_root_lists_nothing(tmp_path):
    assert list(LocalObjectStore(tmp_path / "nope").list()) == []
    store = LocalObjectStore(tmp_path)
    store.put("real.json", b"{}")
    (tmp_path / ".tmp-partial.json").write_bytes(b"half")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".tmp-x").write_bytes(b"half")
    assert [o.key for o in store.list()] == ["real.json"]


@pytest.mark.parametrize("key", ["with space.json", "ünïcødé/日本.json", "hash#tag.json", "100%.json",
                                 "a+b=c&d.json"])
def test_local_unusual_but_safe_keys(tmp_path, key):
    store = LocalObjectStore(tmp_path)
    etag = store.put(key, b"data")
    assert store.get(key) == (b"data", etag)
    assert [o.key for o in store.list()] == [key]
    assert store.uri(key).startswith("file://")


@pytest.mark.parametrize("key, expected", [
    ("a.json", "a.json"), ("a/b/c.json", "a/b/c.json"), ("a//b", "a/b"), ("a/./b", "a/b"),
    ("a\\b", "a/b"), ("dir/", "dir"), ("x:y/z", None),
])
def test_safe_key_normalises(key, expected):
    if expected is None:
        with pytest.raises(UnsafeKeyError):
            safe_key(key)
    else:
        assert safe_key(key) == expected


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_safe_key_rejects(key):
    with pytest.raises(UnsafeKeyError):
        safe_key(key)
    assert issubclass(UnsafeKeyError, ValueError)


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_local_store_never_writes_outside_root(tmp_path, key):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").mkdir()
    store = LocalObjectStore(root)
    with pytest.raises(UnsafeKeyError):
        store.put(key, b"evil")
    with pytest.raises(UnsafeKeyError):
        store.get(key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert [str(p.relative_to(root)) for p in root.rglob("*")] == ["a"]


def test_local_symlink_escape_rejected(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    store = LocalObjectStore(root)
    with pytest.raises(UnsafeKeyError):
        store.put("link/x.json", b"evil")
    assert list(outside.iterdir()) == []


def test_open_store_local_forms(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalObjectStore)
    store = open_store(tmp_path.as_uri())
    assert isinstance(store, LocalObjectStore) and store.root == tmp_path.resolve()


@pytest.mark.parametrize("url", ["s3://", "s3:///landing", "s3a:///x"])
def test_open_store_s3_without_bucket(url):
    with pytest.raises(ValueError) as info:
        open_store(url)
    assert repr(url) in str(info.value)


@pytest.mark.parametrize("url", ["gs://x", "http://example.com/bucket", "abfss://c@a/x"])
def test_open_store_unsupported_scheme(url):
    with pytest.raises(ValueError, match="unsupported"):
        open_store(url)


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_SECURITY_TOKEN": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"tweets-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, s3_endpoint


def test_s3_put_get_list_under_prefix(s3):
    client, bucket, endpoint = s3
    store = open_store(f"s3://{bucket}/landing/", endpoint_url=endpoint)
    assert isinstance(store, S3ObjectStore)
    assert store.url == f"s3://{bucket}/landing/"
    client.put_object(Bucket=bucket, Key="outside.jsonl", Body=b"no")
    client.put_object(Bucket=bucket, Key="landing2/near.jsonl", Body=b"no")
    client.put_object(Bucket=bucket, Key="landing/folder/", Body=b"")

    etag_a = store.put("a.jsonl", b'{"id": 1}\n')
    etag_b = store.put("2024/05/b.jsonl", b'{"id": 2}\n{"id": 3}\n')
    assert etag_a == client.head_object(Bucket=bucket, Key="landing/a.jsonl")["ETag"].strip('"')
    assert etag_b == client.head_object(Bucket=bucket, Key="landing/2024/05/b.jsonl")["ETag"].strip('"')
    assert store.get("a.jsonl") == (b'{"id": 1}\n', etag_a)

    listed = {o.key: o for o in store.list()}
    assert set(listed) == {"a.jsonl", "2024/05/b.jsonl"}
    assert listed["a.jsonl"].etag == etag_a and listed["2024/05/b.jsonl"].etag == etag_b
    assert listed["2024/05/b.jsonl"].size == len(b'{"id": 2}\n{"id": 3}\n')
    for info in listed.values():
        assert info.last_modified.tzinfo is timezone.utc
    assert store.uri("a.jsonl") == f"s3://{bucket}/landing/a.jsonl"


def test_s3_etag_changes_with_content_and_whole_bucket_prefix(s3):
    client, bucket, endpoint = s3
    store = open_store(f"s3://{bucket}", endpoint_url=endpoint)
    first = store.put("k.json", b"one")
    second = store.put("k.json", b"two")
    assert first != second
    assert [(o.key, o.etag) for o in store.list()] == [("k.json", second)]
    assert client.get_object(Bucket=bucket, Key="k.json")["Body"].read() == b"two"


def test_s3_prefix_forms_equivalent(s3):
    _, bucket, endpoint = s3
    open_store(f"s3://{bucket}/deep/landing", endpoint_url=endpoint).put("x.json", b"1")
    store = open_store(f"s3a://{bucket}/deep/landing/", endpoint_url=endpoint)
    assert [o.key for o in store.list()] == ["x.json"]
    assert store.get("x.json")[0] == b"1"


KEYS_IN_ORDER = ["2024/05/01/b.jsonl", "2024/05/02/a.jsonl", "a-c.jsonl", "a/b.jsonl", "a/c/d.jsonl", "b.jsonl"]


def test_local_lists_in_the_keys_lexical_order_as_s3_does(tmp_path):
    store = LocalObjectStore(tmp_path)
    for key in reversed(KEYS_IN_ORDER):
        store.put(key, key.encode())
    assert [o.key for o in store.list()] == sorted(KEYS_IN_ORDER) == KEYS_IN_ORDER


@pytest.mark.parametrize("after, expected", [("", KEYS_IN_ORDER), ("2024/05/01/b.jsonl", KEYS_IN_ORDER[1:]),
                                             ("2024/05/01/a", KEYS_IN_ORDER), ("a-c.jsonl", KEYS_IN_ORDER[3:]),
                                             ("a/", KEYS_IN_ORDER[3:]), ("a/b.jsonl", KEYS_IN_ORDER[4:]),
                                             ("b.jsonl", []), ("zz", [])])
def test_local_list_starts_after_a_key(tmp_path, after, expected):
    store = LocalObjectStore(tmp_path)
    for key in KEYS_IN_ORDER:
        store.put(key, key.encode())
    assert [o.key for o in store.list(start_after=after)] == expected
    assert [o.key for o in store.list("a/", start_after="a/b.jsonl")] == ["a/c/d.jsonl"]


def test_local_list_after_a_key_skips_earlier_folders(tmp_path, monkeypatch):
    store = LocalObjectStore(tmp_path)
    for day in range(1, 6):
        store.put(f"2024/05/{day:02d}/x.jsonl", b"{}")
    entered = []
    walk = LocalObjectStore._walk

    def counting(self, folder, after):
        entered.append(folder.relative_to(tmp_path).as_posix())
        return walk(self, folder, after)

    monkeypatch.setattr(LocalObjectStore, "_walk", counting)
    assert [o.key for o in store.list(start_after="2024/05/04/x.jsonl")] == ["2024/05/05/x.jsonl"]
    assert entered == [".", "2024", "2024/05", "2024/05/04", "2024/05/05"]


def test_s3_list_starts_after_a_key(s3):
    _, bucket, endpoint = s3
    store = open_store(f"s3://{bucket}/landing/", endpoint_url=endpoint)
    for key in KEYS_IN_ORDER:
        store.put(key, key.encode())
    assert [o.key for o in store.list()] == KEYS_IN_ORDER
    assert [o.key for o in store.list(start_after="a-c.jsonl")] == KEYS_IN_ORDER[3:]
    assert [o.key for o in store.list("a/", start_after="a/b.jsonl")] == ["a/c/d.jsonl"]
    assert list(store.list(start_after="b.jsonl")) == []
