"""DatasetStore against a real S3 server: check, list, mkdir, delete, and what credentials allow."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp
from conftest import remote_keys
from proxy import Proxy

from provena_widgets import (
    AccessDenied,
    Credentials,
    CredentialsExpired,
    CredentialsInvalid,
    DatasetLocation,
    DatasetStore,
    InvalidPath,
    NotFound,
    OutsideDataset,
    ProtectedFile,
)
from provena_widgets.s3objects import parse_s3_timestamp
from provena_widgets.sandbox.s3server import LocalS3Server


def put(admin: Any, location: DatasetLocation, key: str, body: bytes = b"x") -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=body)


def test_check_proves_the_credentials_work(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    status = store.check()
    assert not status.has_files
    put(admin, location, "metadata.json", b"{}")
    assert store.check().has_files
    assert status.location == location


def test_list_shows_folders_first_then_files(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    for key in ("b.csv", "a.csv", "zeta/x.csv", "Alpha/y/z.csv", "metadata.json"):
        put(admin, location, key, b"12345")
    entries = store.list()
    assert [(e.name, e.is_dir) for e in entries] == [
        ("Alpha", True),
        ("zeta", True),
        ("a.csv", False),
        ("b.csv", False),
        ("metadata.json", False),
    ]
    alpha = entries[0]
    assert alpha.key == "Alpha/" and alpha.size == 0
    a_csv = entries[2]
    assert a_csv.key == "a.csv" and a_csv.size == 5 and isinstance(a_csv.modified, datetime)
    assert [e.key for e in store.list("Alpha/y")] == ["Alpha/y/z.csv"]


def test_list_pages_beyond_a_thousand_keys(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: put(admin, location, f"many/f{i:05d}.txt"), range(1100)))
    entries = store.list("many/")
    assert len(entries) == 1100
    assert entries[0].name == "f00000.txt" and entries[-1].name == "f01099.txt"
    pages = list(store.iter_pages("many/", page_size=500))
    assert [len(page) for page in pages] == [500, 500, 100]


def test_empty_folders_and_missing_folders(store: DatasetStore) -> None:
    assert store.list() == []
    assert store.mkdir("empty") == "empty/"
    assert [(e.name, e.is_dir) for e in store.list()] == [("empty", True)]
    assert store.list("empty/") == []
    with pytest.raises(NotFound, match="does not exist"):
        store.list("no-such-folder/")
    with pytest.raises(InvalidPath):
        store.mkdir("")


def test_paths_outside_the_dataset_are_refused_before_any_request(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> None:
    store = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url)
    for call in (
        lambda: store.list("../"),
        lambda: store.list("../10378-1-1/"),
        lambda: store.mkdir("../escape"),
        lambda: store.delete(["../other.csv"]),
        lambda: store.download(["/datasets/other/a.csv"], to=tmp_path),
        lambda: store.upload([tmp_path], to="a/../../.."),
    ):
        with pytest.raises(OutsideDataset):
            call()
    assert proxy.requests == [] and proxy.from_client == 0
    store.list()
    assert proxy.requests  # what the store does ask for goes through the proxy


def test_delete_is_recursive_and_checks_everything_first(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    for key in ("keep.csv", "old.csv", "tmp/a.csv", "tmp/deep/b.csv", "tmpfile.csv"):
        put(admin, location, key)
    store.mkdir("tmp/emptydir")
    with pytest.raises(NotFound):
        store.delete(["old.csv", "missing.csv"])
    assert "old.csv" in remote_keys(admin, location)  # nothing deleted when one path is wrong
    removed = store.delete(["old.csv", "tmp/"])
    assert sorted(removed) == ["old.csv", "tmp/a.csv", "tmp/deep/b.csv", "tmp/emptydir/"]
    assert sorted(remote_keys(admin, location)) == ["keep.csv", "tmpfile.csv"]
    with pytest.raises(InvalidPath, match="whole dataset"):
        store.delete([""])


def test_metadata_json_is_protected(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    put(admin, location, "metadata.json", b'{"provena": true}')
    with pytest.raises(ProtectedFile):
        store.delete(["metadata.json"])
    local = tmp_path / "metadata.json"
    local.write_text("{}")
    with pytest.raises(ProtectedFile):
        store.upload([local], overwrite="overwrite")
    body = admin.get_object(Bucket=location.bucket, Key=location.prefix + "metadata.json")["Body"].read()
    assert body == b'{"provena": true}'
    store.upload([local], to="sub/")  # anywhere but the root is the user's own
    assert "sub/metadata.json" in remote_keys(admin, location)
    assert store.delete(["metadata.json"], allow_metadata=True) == ["metadata.json"]


def _with(creds: Credentials, **change: Any) -> Credentials:
    return dataclasses.replace(creds, **change)


def test_wrong_tampered_and_unknown_credentials_are_told_apart(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation
) -> None:
    assert credentials.session_token is not None
    cases = {
        "secret access key": _with(credentials, secret_access_key="x" * 40),
        "session token": _with(credentials, session_token=credentials.session_token[:-8] + "AAAAAAAA"),
        "access key id": _with(credentials, access_key_id="ASIAZZZZZZZZZZZZZZZZ"),
    }
    for words, bad in cases.items():
        store = DatasetStore(bad, location, endpoint_url=s3_server.endpoint_url)
        with pytest.raises(CredentialsInvalid) as err:
            store.check()
        assert words in str(err.value).lower()
        assert credentials.secret_access_key not in str(err.value)


def test_expired_credentials_are_refused_before_any_request(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> None:
    expired = _with(credentials, expiry=datetime.now(timezone.utc) - timedelta(minutes=1))
    store = DatasetStore(expired, location, endpoint_url=proxy.endpoint_url)
    (tmp_path / "a.txt").write_text("a")
    for call in (store.check, store.list, lambda: store.upload([tmp_path / "a.txt"])):
        with pytest.raises(CredentialsExpired, match="expired"):
            call()
    assert proxy.requests == [] and proxy.from_client == 0
    DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url).check()  # moto never expires them
    assert proxy.requests  # the same keys, not marked expired, do go through the proxy


def test_another_datasets_folder_is_off_limits(
    s3_server: LocalS3Server, credentials: Credentials, admin: Any, tmp_path: Path
) -> None:
    other = DatasetLocation.from_handle("10378.1/1", bucket="rrap-storage-bucket")
    put(admin, other, "secret.csv", b"not yours")
    store = DatasetStore(credentials, other, endpoint_url=s3_server.endpoint_url)
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(AccessDenied) as err:
        store.upload([tmp_path / "a.txt"])
    assert err.value.report is not None and len(err.value.report.failed) == 1
    with pytest.raises(AccessDenied):
        store.download(["secret.csv"], to=tmp_path / "out")
    assert not (tmp_path / "out" / "secret.csv").exists()
    assert list((tmp_path / "out").glob("*")) == []


def test_read_only_credentials_read_but_never_write(
    s3_server: LocalS3Server,
    read_credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    put(admin, location, "data.csv", b"1,2\n")
    store = DatasetStore(read_credentials, location, endpoint_url=s3_server.endpoint_url)
    report = store.download(["data.csv"], to=tmp_path)
    assert report.ok and (tmp_path / "data.csv").read_bytes() == b"1,2\n"
    (tmp_path / "new.csv").write_text("new")
    with pytest.raises(AccessDenied, match="write credentials"):
        store.upload([tmp_path / "new.csv"])
    with pytest.raises(AccessDenied):
        store.delete(["data.csv"])
    with pytest.raises(AccessDenied):
        store.mkdir("folder")
    assert sorted(remote_keys(admin, location)) == ["data.csv"]


def test_endpoint_comes_from_the_standard_aws_configuration(
    s3_server: LocalS3Server,
    credentials: Credentials,
    location: DatasetLocation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    store = DatasetStore(credentials, location)
    assert store.endpoint_url == s3_server.endpoint_url
    assert store.check().location == location


def test_repr_hides_secrets(store: DatasetStore) -> None:
    text = repr(store)
    assert store.credentials.secret_access_key not in text
    assert store.credentials.session_token is not None and store.credentials.session_token not in text


@pytest.mark.parametrize(
    "text",
    ["2026-11-25T17:30:13.000Z", "2026-11-25T17:30:13Z", "2026-11-25T17:30:13.123456+00:00",
     "Wed, 25 Nov 2026 17:30:13 GMT", "1700000000"],
)  # fmt: skip
def test_the_fast_listing_time_parser_agrees_with_botocore(text: str) -> None:
    assert parse_s3_timestamp(text) == botocore_parse_timestamp(text)
    assert parse_s3_timestamp(text).tzinfo is not None
