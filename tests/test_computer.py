"""Files from the browser's computer into the dataset (IncomingUpload), and out of it through the
kernel (chunked, .zip) or a presigned URL, against the real local S3 server: no browser needed."""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from awscrt.checksums import crc32c
from conftest import MiB, open_uploads, remote_keys
from test_integrity import b64_crc32c

from provena_widgets import AlreadyExists, Credentials, CredentialsExpired, DatasetLocation, DatasetStore
from provena_widgets.folder.incoming import PROTECTED
from provena_widgets.transfer.report import FileResult

KiB = 1024


def offer(name: str, data: bytes, mtime: float = 1_700_000_000.0) -> dict[str, Any]:
    return {"id": name, "path": name, "size": len(data), "mtime": mtime}


def get(admin: Any, location: DatasetLocation, path: str) -> bytes:
    body: bytes = admin.get_object(Bucket=location.bucket, Key=location.prefix + path)["Body"].read()
    return body


def test_small_nested_and_multipart_files_arrive_byte_exact_with_checksums(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    files = {"small.csv": b"a,b\n1,2\n", "empty.txt": b"", "folder/sub/big.bin": os.urandom(13 * MiB + 7)}
    acks: list[tuple[str, int]] = []
    upload = store.receive("in/", progress=None, on_ack=lambda file_id, n: acks.append((file_id, n)))
    decisions = upload.offer([offer(name, data) for name, data in files.items()])
    assert [(d.path, d.action, d.offset) for d in decisions] == [
        ("in/small.csv", "send", 0), ("in/empty.txt", "send", 0), ("in/folder/sub/big.bin", "send", 0),
    ]  # fmt: skip
    for name, data in files.items():
        upload.send(name, io.BytesIO(data), chunk_size=256 * KiB, window=4)
    report = upload.close()
    assert report.ok and len(report.transferred) == 3, report.files
    for name, data in files.items():
        assert get(admin, location, "in/" + name) == data
    big = files["folder/sub/big.bin"]
    head = admin.get_object(Bucket=location.bucket, Key=location.prefix + "in/folder/sub/big.bin",
                            ChecksumMode="ENABLED")  # fmt: skip
    composite = b"".join(crc32c(big[i : i + 5 * MiB]).to_bytes(4, "big") for i in range(0, len(big), 5 * MiB))
    assert head["ChecksumCRC32C"] == f"{b64_crc32c(composite)}-3"  # three parts, each checked by the server
    assert head["Metadata"]["mtime"] == "1700000000.000"
    small = admin.get_object(
        Bucket=location.bucket, Key=location.prefix + "in/small.csv", ChecksumMode="ENABLED"
    )
    assert small["ChecksumCRC32C"] == b64_crc32c(files["small.csv"])
    assert {result.checksum for result in report.transferred} == {"CRC32C"}
    assert acks[-1] == ("folder/sub/big.bin", len(files["folder/sub/big.bin"]))  # acknowledged to the end
    assert open_uploads(admin, location) == []


def test_the_overwrite_rule_is_decided_before_any_byte_is_sent(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    for name in ("same.txt", "old.txt", "asked.txt", "other.txt"):
        admin.put_object(Bucket=location.bucket, Key=location.prefix + name, Body=b"12345")
    past, future = 1_000_000_000.0, datetime.now(timezone.utc).timestamp() + 3600
    files = [
        {"id": "1", "path": "same.txt", "size": 5, "mtime": past},  # same size, older: skip
        {"id": "2", "path": "old.txt", "size": 5, "mtime": future},  # newer here: send
        {"id": "3", "path": "new.txt", "size": 2, "mtime": past},  # not there: send
        {"id": "4", "path": "asked.txt", "size": 3, "mtime": past},
        {"id": "5", "path": "other.txt", "size": 3, "mtime": past},
        {"id": "6", "path": "metadata.json", "size": 2, "mtime": past},
        {"id": "7", "path": "../escape.txt", "size": 2, "mtime": past},
    ]
    asked: list[str] = []

    def rule(conflict: Any) -> Any:
        asked.append(conflict.destination)
        return "ask" if conflict.destination in ("asked.txt", "other.txt") else "skip"

    upload = store.receive(overwrite=rule, progress=None)
    decided = {d.id: (d.action, d.reason) for d in upload.offer(files)}
    assert sorted(asked) == ["asked.txt", "old.txt", "other.txt", "same.txt"]
    assert decided["1"][0] == "skip" and decided["3"][0] == "send"
    assert decided["2"][0] == "send"  # the rule said skip, but this one is newer
    assert decided["4"][0] == decided["5"][0] == "ask"
    assert decided["6"] == ("fail", PROTECTED)
    assert PROTECTED.endswith("belongs to Provena: rename it, or upload it into a folder")
    assert decided["7"][0] == "fail" and "unsafe" in decided["7"][1]
    answered = {d.id: d.action for d in upload.answer({"4": "overwrite", "5": "skip"})}
    assert answered["4"] == "send" and answered["5"] == "skip"
    for file_id, data in (("3", b"hi"), ("4", b"new")):
        upload.send(file_id, io.BytesIO(data))
    report = upload.close()
    assert [r.destination for r in report.transferred] == ["new.txt", "asked.txt"]
    assert get(admin, location, "asked.txt") == b"new" and get(admin, location, "other.txt") == b"12345"
    assert "metadata.json" not in remote_keys(admin, location)

    newer = store.receive(overwrite="newer", progress=None)
    assert [d.action for d in newer.offer(files[:2])] == ["skip", "send"]
    newer.cancel()
    assert newer.close().cancelled
    refused = store.receive(overwrite="error", progress=None)
    with pytest.raises(AlreadyExists):
        refused.offer(files[:1])
    assert refused.close().files == []  # a refused offer leaves nothing owed to wait for


def test_empty_folders_become_folder_markers_unless_the_folder_exists(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "in/tree/full/x.txt", Body=b"x")
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "in/tree/marked/", Body=b"")
    files = [
        {"id": "a", "path": "tree/a.txt", "size": 2},
        {"id": "e", "path": "tree/empty/", "size": 0},
        {"id": "d", "path": "tree/deep/er/", "size": 0},
        {"id": "f", "path": "tree/full/", "size": 0},  # holds a file already
        {"id": "m", "path": "tree/marked/", "size": 0},  # its marker is there
        {"id": "b", "path": "tree/bad/", "size": 3},
        {"id": "u", "path": "tree/../", "size": 0},
    ]
    upload = store.receive("in/", overwrite="error", progress=None)  # existing folders are no clash
    decided = {d.id: (d.action, d.reason) for d in upload.offer(files)}
    assert decided == {
        "a": ("send", ""), "e": ("send", ""), "d": ("send", ""),
        "f": ("skip", "the folder exists"), "m": ("skip", "the folder exists"),
        "b": ("fail", "a folder holds no bytes"), "u": ("fail", "unsafe name: 'tree/..'"),
    }  # fmt: skip
    upload.send("a", io.BytesIO(b"hi"))
    upload.finish("e")  # a folder: nothing to send
    upload.finish("d")
    report = upload.close()
    assert sorted(r.destination for r in report.transferred) == [
        "in/tree/a.txt",
        "in/tree/deep/er/",
        "in/tree/empty/",
    ]
    assert remote_keys(admin, location) == {
        "in/tree/a.txt": 2, "in/tree/empty/": 0, "in/tree/deep/er/": 0, "in/tree/full/x.txt": 1,
        "in/tree/marked/": 0,
    }  # fmt: skip
    assert [e.name for e in store.list("in/tree/")] == ["deep", "empty", "full", "marked", "a.txt"]


def test_kernel_memory_stays_within_a_few_parts_for_a_64_mib_file(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(64):
            out.write(os.urandom(MiB))
    part = store.settings.part_size
    upload = store.receive(progress=None)
    upload.offer([{"id": "big", "path": "big.bin", "size": 64 * MiB}])
    tracemalloc.start()
    try:
        with source.open("rb") as handle:
            upload.send("big", handle, chunk_size=256 * KiB, window=8)
        report = upload.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.ok, report.files
    assert upload.budget.peak <= upload.budget.limit + part
    print(f"tracemalloc peak {peak / MiB:.1f} MiB streaming 64 MiB in {part / MiB:.0f} MiB parts")
    assert peak < 6 * part, f"peak {peak / MiB:.1f} MiB for {part / MiB:.0f} MiB parts"
    assert remote_keys(admin, location) == {"big.bin": 64 * MiB}
    assert get(admin, location, "big.bin") == source.read_bytes()


def test_cancel_mid_file_leaves_no_object_and_a_retry_sends_only_missing_parts(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    data = os.urandom(17 * MiB)
    item = {"id": "f", "path": "f.bin", "size": len(data), "mtime": 1_600_000_000.0}
    first = store.receive(progress=None)
    first.offer([item])
    for offset in range(0, 11 * MiB, MiB):  # two whole 5 MiB parts and a bit
        first.write("f", offset, data[offset : offset + MiB])
    first.cancel()
    report = first.close()
    assert report.cancelled and report.not_done[0].reason == "cancelled"
    assert "f.bin" not in remote_keys(admin, location)  # no partial object
    assert open_uploads(admin, location) == [location.prefix + "f.bin"]  # its parts are kept

    retry = store.receive(progress=None)
    (decision,) = retry.offer([item])
    assert decision.action == "send" and decision.offset == 10 * MiB  # parts 1 and 2 are not sent again
    retry.send("f", io.BytesIO(data))
    assert retry.close().ok
    assert get(admin, location, "f.bin") == data
    assert open_uploads(admin, location) == []


def test_a_sender_that_goes_quiet_is_cancelled_cleanly(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    ended: list[FileResult] = []
    gone = threading.Event()

    def on_file(result: FileResult) -> None:
        ended.append(result)
        gone.set()

    upload = store.receive(progress=None, idle_timeout=1.0, on_file=on_file)
    upload.offer([{"id": "x", "path": "x.bin", "size": 3 * MiB}])
    upload.write("x", 0, os.urandom(MiB))  # ...then the tab closes
    assert gone.wait(15)
    assert ended[0].status == "cancelled" and "no data from the browser for 1 s" in ended[0].reason
    assert upload.close().cancelled
    assert remote_keys(admin, location) == {}


def test_out_of_order_or_short_files_fail_without_an_object(
    store: DatasetStore, admin: Any, location: Any
) -> None:
    upload = store.receive(progress=None)
    upload.offer([{"id": "a", "path": "a.txt", "size": 4}, {"id": "b", "path": "b.txt", "size": 4}])
    upload.write("a", 2, b"ab")
    upload.write("b", 0, b"ab")
    upload.finish("b")
    reasons = {r.destination: r.reason for r in upload.close().failed}
    assert "came where byte 0 was due" in reasons["a.txt"] and "2 of 4 bytes came" in reasons["b.txt"]
    assert remote_keys(admin, location) == {}


def test_folders_stream_out_as_one_zip_in_chunks(store: DatasetStore, admin: Any, location: Any) -> None:
    files = {"d/a.csv": b"x,y\n", "d/sub/b.bin": os.urandom(3 * MiB + 5), "d/empty.txt": b""}
    for name, data in files.items():
        admin.put_object(Bucket=location.bucket, Key=location.prefix + name, Body=data)
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "dx.txt", Body=b"neighbour")
    chunks: list[bytes] = []
    size = store.send_out(store.outgoing(["d/"]), chunks.append, chunk_size=256 * KiB, as_zip=True)
    assert max(len(chunk) for chunk in chunks) <= 256 * KiB and sum(map(len, chunks)) == size
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == files
    one: list[bytes] = []
    (item,) = store.outgoing("d/sub/b.bin")
    assert item.name == "b.bin"
    assert store.send_out([item], one.append, chunk_size=MiB) == len(files["d/sub/b.bin"])
    assert b"".join(one) == files["d/sub/b.bin"]


def test_presigned_urls_are_short_and_end_before_the_credentials(
    s3_server: Any, credentials: Credentials, location: DatasetLocation
) -> None:
    def expires(store: DatasetStore) -> int:
        url = store.presigned_url("data/a.csv")
        query = parse_qs(urlparse(url).query)
        assert query["response-content-disposition"] == ['attachment; filename="a.csv"']
        assert query["X-Amz-Security-Token"] == [credentials.session_token]  # a secret: never state
        return int(query["X-Amz-Expires"][0])

    store = DatasetStore(credentials, location, endpoint_url=s3_server.endpoint_url)
    assert expires(store) == 300
    soon = datetime.now(timezone.utc) + timedelta(minutes=2)
    short = Credentials(
        credentials.access_key_id, credentials.secret_access_key, credentials.session_token, soon
    )
    assert 80 <= expires(DatasetStore(short, location, endpoint_url=s3_server.endpoint_url)) <= 90
    ending = Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token,
                         datetime.now(timezone.utc) + timedelta(seconds=35))  # fmt: skip
    with pytest.raises(CredentialsExpired):
        DatasetStore(ending, location, endpoint_url=s3_server.endpoint_url).presigned_url("a.csv")
