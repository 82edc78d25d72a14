"""Server-side copy, move and rename, quick look and properties, against the real local S3 server
with per-dataset STS credentials (the sandbox's Provena policy)."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums
from conftest import SMALL_PARTS, MiB, remote_keys, write_tree
from proxy import Proxy, Request

from provena_widgets import CancelToken, Credentials, DatasetLocation, DatasetStore, TransferProgress
from provena_widgets.errors import (
    AlreadyExists,
    CredentialsExpired,
    InvalidPath,
    NotFound,
    OutsideDataset,
    ProtectedFile,
)
from provena_widgets.sandbox.s3server import LocalS3Server

# Copies above 6 MiB go in 5 MiB parts (moto's smallest), so the UploadPartCopy path runs on small objects.
SMALL_COPY_PARTS = dataclasses.replace(SMALL_PARTS, copy_threshold=6 * MiB, copy_part_size=5 * MiB)


def crc32c(data: bytes) -> str:
    """The base64 CRC32C S3 stores for ``data`` as one object."""
    return base64.b64encode(checksums.crc32c(data).to_bytes(4, "big")).decode()


def contents(size: int, seed: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 for i in range(size))


def stored(admin: Any, location: DatasetLocation, path: str) -> tuple[bytes, dict[str, Any]]:
    """An object's bytes and its GET answer, asked for its checksum."""
    answer = admin.get_object(Bucket=location.bucket, Key=location.prefix + path, ChecksumMode="ENABLED")
    return answer["Body"].read(), answer


def upload_tree(store: DatasetStore, root: Path, files: dict[str, bytes], to: str = "") -> None:
    report = store.upload([write_tree(root, files)], to=to, progress=None)
    assert report.ok, report.summary()


def through_proxy(proxy: Proxy, credentials: Credentials, location: DatasetLocation) -> DatasetStore:
    return DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=SMALL_COPY_PARTS)


def is_copy(request: Request) -> bool:
    return request.startswith("PUT ") and "x-amz-copy-source" in request.headers


def nth_copy(n: int, then: Callable[[], object] = lambda: None) -> Callable[[Request], bool]:
    """A proxy ``when``: true for the ``n``-th copy request only, calling ``then`` as it arrives."""
    seen = itertools.count(1)

    def when(request: Request) -> bool:
        if is_copy(request) and next(seen) == n:
            then()
            return True
        return False

    return when


# -- copy and move ------------------------------------------------------------------------------


def test_a_folder_of_1000_objects_moves_with_bytes_checksums_and_times_unchanged(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    files = {f"{i % 7}/file-{i:04d}.bin": contents(i % 1500, i) for i in range(1000)}
    upload_tree(store, tmp_path / "src", files)
    mtimes = {
        name: stored(admin, location, "src/" + name)[1]["Metadata"]["mtime"] for name in list(files)[:5]
    }
    events: list[TransferProgress] = []

    report = store.move(["src/"], to="moved/", progress=events.append)

    assert report.ok and report.direction == "move" and len(report.transferred) == 1000
    assert all(result.source.startswith("src/") for result in report.files)
    assert remote_keys(admin, location).keys() == {f"moved/src/{name}" for name in files}
    last = events[-1]
    assert last.done and last.files_done == last.files_total == 1000
    assert last.bytes_done == last.bytes_total == sum(len(data) for data in files.values())
    assert sum(len(event.finished) for event in events) == 1000

    def check(item: tuple[str, bytes]) -> None:
        data, answer = stored(admin, location, "moved/src/" + item[0])
        assert data == item[1]
        assert answer["ChecksumCRC32C"] == crc32c(item[1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, files.items()))
    for name, mtime in mtimes.items():
        assert stored(admin, location, "moved/src/" + name)[1]["Metadata"]["mtime"] == mtime


@pytest.mark.parametrize("interruption", ["cancel", "expired credentials"])
def test_an_interrupted_move_leaves_every_object_in_one_place_and_a_rerun_finishes_it(
    interruption: str,
    s3_server: LocalS3Server,
    store: DatasetStore,
    credentials: Credentials,
    admin: Any,
    location: DatasetLocation,
    tmp_path: Path,
) -> None:
    files = {f"f{i:03d}.txt": contents(100 + i, i) for i in range(200)}
    upload_tree(store, tmp_path / "data", files)
    token = CancelToken()
    with Proxy(s3_server.port) as proxy:
        interrupted = through_proxy(proxy, credentials, location)
        if interruption == "cancel":  # the user presses Cancel as the 100th copy is on its way
            at_100th = nth_copy(100, token.cancel)
            proxy.plan("500", when=lambda request: at_100th(request) and False)  # only watches
            report = interrupted.move("data/", to="archive/", cancel=token, progress=None)
        else:  # the credentials run out: the 100th copy is refused
            proxy.plan("expired", when=nth_copy(100))
            with pytest.raises(CredentialsExpired) as raised:
                interrupted.move("data/", to="archive/", progress=None)
            assert raised.value.report is not None
            report = raised.value.report
    assert 0 < len(report.transferred) < 200 and report.not_done
    keys = remote_keys(admin, location)
    left = {key[len("data/") :] for key in keys if key.startswith("data/")}
    moved = {key[len("archive/data/") :] for key in keys if key.startswith("archive/data/")}
    assert not left & moved, sorted(left & moved)
    assert left | moved == files.keys(), "none lost"
    assert moved == {result.destination[len("archive/data/") :] for result in report.transferred}

    again = store.move("data/", to="archive/", progress=None)

    assert again.ok and len(again.transferred) == len(left)
    assert remote_keys(admin, location).keys() == {f"archive/data/{name}" for name in files}
    for name, data in files.items():
        assert stored(admin, location, f"archive/data/{name}")[0] == data


def test_an_object_copied_but_not_yet_deleted_is_moved_by_the_rerun(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    upload_tree(store, tmp_path / "data", {"a.csv": b"1,2\n", "b.csv": b"3,4\n"})
    assert store.copy("data/a.csv", to="archive/", progress=None).ok  # as if the delete never came
    report = store.move(["data/a.csv", "data/b.csv"], to="archive/", progress=None)
    assert report.ok and len(report.transferred) == 2
    assert remote_keys(admin, location).keys() == {"archive/a.csv", "archive/b.csv"}


def test_copy_keeps_checksum_metadata_and_source(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    upload_tree(store, tmp_path / "d", {"table.csv": b"a,b\n1,2\n"})
    report = store.copy("d/table.csv", to="copies/", progress=None)
    assert report.ok and report.files[0].checksum == "CRC32C"
    assert str(report.files[0]) == "transferred d/table.csv -> copies/table.csv"
    source, copy = stored(admin, location, "d/table.csv"), stored(admin, location, "copies/table.csv")
    assert copy[0] == source[0] == b"a,b\n1,2\n"
    assert copy[1]["ChecksumCRC32C"] == source[1]["ChecksumCRC32C"] == crc32c(b"a,b\n1,2\n")
    assert copy[1]["Metadata"] == source[1]["Metadata"] and "mtime" in copy[1]["Metadata"]
    again = store.copy("d/table.csv", to="copies/", progress=None)  # the same object is already there
    assert again.ok and [r.status for r in again.files] == ["skipped"]


@pytest.mark.parametrize("kind", ["full-object", "composite"])
def test_a_large_copy_goes_in_parts_and_keeps_the_checksum_algorithm(
    kind: str, s3_server: LocalS3Server, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    data = contents(12 * MiB + 5, 3)
    key = location.prefix + "big.bin"
    if kind == "full-object":  # one PUT: the checksum is over the whole object
        admin.put_object(Bucket=location.bucket, Key=key, Body=data, ChecksumAlgorithm="CRC32C",
                         Metadata={"mtime": "1700000000.000"}, ContentType="application/x-test")  # fmt: skip
    else:  # a multipart upload: the checksum is composite, over its parts
        upload = admin.create_multipart_upload(
            Bucket=location.bucket, Key=key, ChecksumAlgorithm="CRC32C",
            Metadata={"mtime": "1700000000.000"}, ContentType="application/x-test",
        )  # fmt: skip
        parts = []
        for number, offset in enumerate(range(0, len(data), 6 * MiB), start=1):
            answer = admin.upload_part(Bucket=location.bucket, Key=key, UploadId=upload["UploadId"],
                                       PartNumber=number, Body=data[offset : offset + 6 * MiB],
                                       ChecksumAlgorithm="CRC32C")  # fmt: skip
            parts.append(
                {"PartNumber": number, "ETag": answer["ETag"], "ChecksumCRC32C": answer["ChecksumCRC32C"]}
            )
        admin.complete_multipart_upload(Bucket=location.bucket, Key=key, UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})  # fmt: skip
    with Proxy(s3_server.port) as proxy:
        report = through_proxy(proxy, credentials, location).copy("big.bin", to="copy/", progress=None)
        part_copies = [r for r in proxy.requests if is_copy(r) and "partNumber=" in r]
    assert report.ok and report.files[0].checksum == "CRC32C"
    assert {r.headers["x-amz-copy-source-range"] for r in part_copies} == {
        f"bytes=0-{5 * MiB - 1}", f"bytes={5 * MiB}-{10 * MiB - 1}", f"bytes={10 * MiB}-{len(data) - 1}"
    }  # fmt: skip
    copied, answer = stored(admin, location, "copy/big.bin")
    assert copied == data
    assert answer["Metadata"] == {"mtime": "1700000000.000"} and answer["ContentType"] == "application/x-test"
    source = admin.head_object(Bucket=location.bucket, Key=key, ChecksumMode="ENABLED")
    if kind == "full-object":  # the same value: the server checked the assembled copy against it
        assert answer["ChecksumCRC32C"] == source["ChecksumCRC32C"] == crc32c(data)
    else:  # the same algorithm, now over the whole object
        composite = stored(admin, location, "big.bin")[1]["ChecksumCRC32C"]
        assert composite.endswith("-3") and answer["ChecksumCRC32C"] == crc32c(data)
    assert open_uploads_under(admin, location) == []


def test_a_copy_in_parts_that_fails_leaves_no_copy_and_no_open_upload(
    s3_server: LocalS3Server, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "big.bin", Body=contents(11 * MiB, 5))
    with Proxy(s3_server.port) as proxy:
        proxy.plan("expired", when=lambda request: is_copy(request) and "partNumber=2" in request)
        with pytest.raises(CredentialsExpired):
            through_proxy(proxy, credentials, location).move("big.bin", to="copy/", progress=None)
    assert remote_keys(admin, location) == {"big.bin": 11 * MiB}
    assert open_uploads_under(admin, location) == []


def open_uploads_under(admin: Any, location: DatasetLocation) -> list[str]:
    response = admin.list_multipart_uploads(Bucket=location.bucket, Prefix=location.prefix)
    return [upload["Key"] for upload in response.get("Uploads", [])]


def test_rename_a_file_and_a_folder(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    upload_tree(store, tmp_path / "proj", {"a.csv": b"1", "sub/b.csv": b"22", "sub/c/d.txt": b"333"})
    assert store.rename("proj/a.csv", "A-final.csv").ok
    report = store.rename("proj/sub/", "renamed")
    assert report.ok and report.direction == "move" and len(report.transferred) == 2
    assert store.rename("proj/renamed", "again").ok  # a folder named without its slash
    assert remote_keys(admin, location) == {
        "proj/A-final.csv": 1,
        "proj/again/b.csv": 2,
        "proj/again/c/d.txt": 3,
    }


def test_rename_refuses_a_taken_name_unless_told_and_names_with_slashes(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    upload_tree(store, tmp_path / "proj", {"a.csv": b"old", "b.csv": b"new!"})
    with pytest.raises(
        AlreadyExists,
        match=r"proj/a\.csv already exists with other content; nothing was moved \(pass overwrite=",
    ):
        store.rename("proj/b.csv", "a.csv")
    assert store.rename("proj/b.csv", "a.csv", overwrite="overwrite").ok
    assert remote_keys(admin, location) == {"proj/a.csv": 4}
    for bad in ("x/y.csv", "", "..", "a.csv"):
        with pytest.raises(InvalidPath, match="name"):
            store.rename("proj/a.csv", bad)
    with pytest.raises(NotFound, match="does not exist"):
        store.rename("proj/missing.csv", "m.csv")


def test_nothing_is_asked_of_the_server_for_paths_outside_the_dataset_or_its_metadata_json(
    s3_server: LocalS3Server, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "metadata.json", Body=b"{}")
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "d/metadata.json", Body=b"{ }")
    with Proxy(s3_server.port) as proxy:
        store = through_proxy(proxy, credentials, location)
        outside: list[Callable[[], object]] = [
            lambda: store.copy("../10378-1-999/secret.csv", to="mine/"),
            lambda: store.move("d/", to="../../elsewhere/"),
            lambda: store.rename("../other/x.csv", "y.csv"),
        ]
        for call in outside:
            with pytest.raises(OutsideDataset):
                call()
        assert proxy.requests == []  # refused before any request
        with pytest.raises(ProtectedFile, match="allow_metadata=True"):
            store.move("metadata.json", to="d/")
        with pytest.raises(ProtectedFile, match="allow_metadata=True"):
            store.rename("metadata.json", "old.json")
        with pytest.raises(ProtectedFile, match="allow_metadata=True"):
            store.copy("d/metadata.json", to="", overwrite="overwrite")
        with pytest.raises(InvalidPath, match="into itself"):
            store.move("d/", to="d/inner/")
        assert store.copy("metadata.json", to="backup/", progress=None).ok  # reading it is fine
    assert stored(admin, location, "metadata.json")[0] == b"{}"


def test_start_move_runs_in_the_background(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    upload_tree(store, tmp_path / "d", {"x.txt": b"x", "y/z.txt": b"z"})
    transfer = store.start_move(["d/x.txt", "d/y/"], to="e/", progress=None)
    assert transfer.wait(60).ok
    assert remote_keys(admin, location) == {"e/x.txt": 1, "e/y/z.txt": 1}


# -- quick look and properties ------------------------------------------------------------------

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize(
    ("name", "body", "kind", "expected"),
    [
        ("t.csv", b'a,b\n1,"x, y"\n', "table", [["a", "b"], ["1", "x, y"]]),
        ("t.tsv", b"a\tb\n1\t2\n", "table", [["a", "b"], ["1", "2"]]),
        ("notes.md", "# Title\nr\u00e9sum\u00e9\n".encode(), "text", "# Title\nr\u00e9sum\u00e9\n"),
        ("d.json", json.dumps({"k": [1, 2]}).encode(), "text", '{"k": [1, 2]}'),
        ("pic.png", PNG, "image", PNG),
        ("blob.bin", bytes(range(256)), "binary", None),
        ("empty.txt", b"", "text", ""),
    ],
)
def test_preview_kinds(
    store: DatasetStore,
    admin: Any,
    location: DatasetLocation,
    name: str,
    body: bytes,
    kind: str,
    expected: Any,
) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + name, Body=body)
    seen = store.preview(name)
    assert (seen.kind, seen.size, seen.truncated) == (kind, len(body), False)
    if kind == "table":
        assert seen.rows == expected
    elif kind == "text":
        assert seen.text == expected
    elif kind == "image":
        assert seen.image == expected and seen.mime == "image/png"


def test_preview_reads_one_range_of_at_most_the_limit(
    s3_server: LocalS3Server, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    rows = "".join(f"{i},value {i},{i * 0.5}\n" for i in range(200_000)).encode()  # ~4 MiB
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "big.csv", Body=rows)
    with Proxy(s3_server.port) as proxy:
        seen = through_proxy(proxy, credentials, location).preview("big.csv", limit=MiB)
        delivered, requests = proxy.to_client, list(proxy.requests)
    assert len(requests) == 1 and requests[0].headers["range"] == f"bytes=0-{MiB - 1}"
    assert MiB < delivered < MiB + 4096  # the bytes asked for, and the answer's headers
    assert seen.kind == "table" and seen.truncated and seen.size == len(rows)
    assert seen.rows[:2] == [["0", "value 0", "0.0"], ["1", "value 1", "0.5"]]
    assert all(len(row) == 3 for row in seen.rows)  # no half-read last row


def test_preview_refuses_folders_and_bad_limits(store: DatasetStore) -> None:
    with pytest.raises(InvalidPath, match="folder"):
        store.preview("data/")
    with pytest.raises(InvalidPath, match="limit"):
        store.preview("a.csv", limit=0)
    with pytest.raises(NotFound):
        store.preview("missing.csv")


def test_properties_of_a_file_and_a_folder(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    upload_tree(store, tmp_path / "p", {"a.csv": b"1,2\n", "sub/b.bin": b"x" * 10})
    store.mkdir("p/empty/")
    info = store.properties("p/a.csv")
    assert (info.is_dir, info.size, info.files, info.checksum_algorithm) == (False, 4, 1, "CRC32C")
    assert info.checksum == crc32c(b"1,2\n") and info.etag and info.modified is not None
    assert info.file_modified is not None
    assert info.file_modified.timestamp() == pytest.approx(
        (tmp_path / "p" / "a.csv").stat().st_mtime, abs=0.01
    )
    assert info.s3_uri == f"s3://{location.bucket}/{location.prefix}p/a.csv"
    folder = store.properties("p")
    assert (folder.is_dir, folder.files, folder.size, folder.path) == (True, 2, 14, "p/")
    assert folder.modified is not None
    with pytest.raises(NotFound):
        store.properties("nothing/")
