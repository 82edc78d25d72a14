"""An interrupted upload taken up again without its resume record (a rerun on another machine, a
fresh journal folder): the open upload is found with ListMultipartUploads, its parts checked with
ListParts against the local bytes, and only the missing or different parts sent again."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conftest import SMALL_PARTS, MiB, open_uploads
from proxy import Proxy

from provena_widgets import Credentials, DatasetLocation, DatasetStore
from provena_widgets.sandbox.s3server import ACCOUNT, LIST_ACTIONS, WRITE_ACTIONS, LocalS3Server
from provena_widgets.transfer.checksums import ObjectChecksum
from provena_widgets.transfer.journal import Journal

SIZE = 23 * MiB  # five 5 MiB parts, the last one 3 MiB
PARTS = {"1", "2", "3", "4", "5"}


def listing_credentials(server: LocalS3Server, location: DatasetLocation) -> Credentials:
    """Write credentials for the dataset folder that may also list an upload's parts (Provena's
    may not): what a server allowing ListParts looks like."""
    name = "parts-" + location.prefix.strip("/").replace("/", "-")
    iam = server.admin_client("iam")
    allow = [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]
    iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": allow})
    )
    statements = [
        {"Effect": "Allow", "Action": [*WRITE_ACTIONS, "s3:ListMultipartUploadParts"],
         "Resource": f"arn:aws:s3:::{location.bucket}/{location.prefix}*"},
        {"Effect": "Allow", "Action": LIST_ACTIONS, "Resource": f"arn:aws:s3:::{location.bucket}"},
    ]  # fmt: skip
    iam.put_role_policy(
        RoleName=name,
        PolicyName="dataset-access",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    session = server.admin_client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="lister"
    )["Credentials"]
    return Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])


def part_number(line: str) -> str:
    """The part number of an UploadPart request line ("" for any other request)."""
    query = parse_qs(urlsplit(line.split()[1]).query)
    return query.get("partNumber", [""])[0] if line.startswith("PUT ") else ""


def lists_open_uploads(line: str) -> bool:
    """Whether a request line is a ListMultipartUploads."""
    return line.startswith("GET ") and "?uploads" in line


def parts_sent(proxy: Proxy, since: int = 0) -> list[str]:
    """The part numbers of the UploadPart requests through the proxy after its ``since``-th request."""
    return [number for number in map(part_number, proxy.requests[since:]) if number]


def interrupted_upload(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> set[str]:
    """Upload ``big.bin`` with parts 3 to 5 refused by the server (a try, and botocore's one retry):
    the upload stays open with the parts that arrived. Returns those (from the journal, which is
    then thrown away)."""
    source, journal = tmp_path / "big.bin", tmp_path / "journal"
    once = dataclasses.replace(SMALL_PARTS, journal_dir=journal, attempts=1, request_attempts=1)
    store = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=once)
    proxy.plan("500", when=lambda line: part_number(line) in ("3", "4", "5"), times=6)
    report = store.upload([source], progress=None)
    proxy.calm()
    assert len(report.failed) == 1 and len(proxy.injected) == 6, report.summary()
    (record,) = Journal(journal).records()
    for path in journal.iterdir():
        path.unlink()
    return set(record["parts"])


def second_run(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, tmp_path: Path, **changes: Any
) -> tuple[list[str], Any]:
    """Upload ``big.bin`` again with a journal folder of its own; the parts it sent, and the report."""
    settings = dataclasses.replace(SMALL_PARTS, journal_dir=tmp_path / "fresh-journal", **changes)
    store = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=settings)
    since = len(proxy.requests)
    report = store.upload([tmp_path / "big.bin"], progress=None)
    return parts_sent(proxy, since), report


def big_file(tmp_path: Path) -> bytes:
    """Write ``SIZE`` random bytes to ``big.bin``; returns them."""
    data = os.urandom(SIZE)
    (tmp_path / "big.bin").write_bytes(data)
    return data


def stored(admin: Any, location: DatasetLocation) -> bytes:
    return bytes(admin.get_object(Bucket=location.bucket, Key=f"{location.prefix}big.bin")["Body"].read())


def composite_of_parts(admin: Any, location: DatasetLocation, data: bytes) -> bool:
    """Whether the object's CRC32C is the composite of the planned 5 MiB parts of ``data``."""
    attributes = admin.get_object_attributes(
        Bucket=location.bucket, Key=f"{location.prefix}big.bin", ObjectAttributes=["Checksum"]
    )["Checksum"]
    stored = ObjectChecksum.of(attributes, parts_count=5)
    step = SMALL_PARTS.part_size
    ranges = [data[offset : offset + step] for offset in range(0, len(data), step)]
    return stored is not None and stored.matches([(stored.update(one), len(one)) for one in ranges])


def test_an_upload_without_its_record_sends_only_the_parts_the_server_lacks(
    s3_server: LocalS3Server, proxy: Proxy, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    credentials = listing_credentials(s3_server, location)
    data = big_file(tmp_path)
    arrived = interrupted_upload(proxy, credentials, location, tmp_path)
    assert arrived and arrived < PARTS and open_uploads(admin, location) == [f"{location.prefix}big.bin"]

    sent, report = second_run(proxy, credentials, location, tmp_path)

    assert report.ok and report.transferred[0].checksum == "CRC32C"
    assert sorted(sent) == sorted(PARTS - arrived)  # each missing part once, nothing that arrived
    assert stored(admin, location) == data
    assert composite_of_parts(admin, location, data)  # what an uninterrupted upload stores
    assert open_uploads(admin, location) == []


def test_a_changed_file_reuses_no_part_of_the_open_upload(
    s3_server: LocalS3Server, proxy: Proxy, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    credentials = listing_credentials(s3_server, location)
    big_file(tmp_path)
    arrived = interrupted_upload(proxy, credentials, location, tmp_path)
    assert arrived
    data = os.urandom(SIZE)  # the same size, other bytes
    (tmp_path / "big.bin").write_bytes(data)

    sent, report = second_run(proxy, credentials, location, tmp_path)

    assert report.ok and sorted(sent) == sorted(PARTS)
    assert stored(admin, location) == data
    assert open_uploads(admin, location) == []


def test_an_open_upload_of_another_part_size_is_not_reused(
    s3_server: LocalS3Server, proxy: Proxy, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    credentials = listing_credentials(s3_server, location)
    data = big_file(tmp_path)
    assert interrupted_upload(proxy, credentials, location, tmp_path)
    since = len(proxy.requests)

    sent, report = second_run(proxy, credentials, location, tmp_path, part_size=6 * MiB)

    assert report.ok and sorted(sent) == ["1", "2", "3", "4"]  # 23 MiB in 6 MiB parts, all sent
    assert sum(line.startswith("POST ") and "?uploads" in line for line in proxy.requests[since:]) == 1
    assert stored(admin, location) == data


def test_without_list_parts_as_on_provena_a_new_upload_sends_every_part(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    data = big_file(tmp_path)
    assert interrupted_upload(proxy, credentials, location, tmp_path)
    since = len(proxy.requests)

    sent, report = second_run(proxy, credentials, location, tmp_path)

    assert any(
        "uploadId=" in line and line.startswith("GET ") for line in proxy.requests[since:]
    )  # asked, denied
    assert report.ok and sorted(sent) == sorted(PARTS)
    assert stored(admin, location) == data


def test_a_server_that_will_not_list_open_uploads_gets_a_fresh_upload(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    """rclone answers ListMultipartUploads with NoSuchUpload while none is open: not a failed file."""
    data = big_file(tmp_path)
    proxy.plan("nosuchupload", when=lists_open_uploads, times=10)

    sent, report = second_run(proxy, credentials, location, tmp_path)

    assert len(proxy.injected) == 1  # asked once, refused, not retried
    assert report.ok and sorted(sent) == sorted(PARTS)
    assert stored(admin, location) == data


def test_a_record_whose_upload_is_gone_starts_afresh_on_a_server_that_will_not_list_uploads(
    proxy: Proxy, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    """rclone's NoSuchUpload to ListMultipartUploads, when the journal names an upload no longer open."""
    data = big_file(tmp_path)
    journal = tmp_path / "journal"
    once = dataclasses.replace(SMALL_PARTS, journal_dir=journal, attempts=1, request_attempts=1)
    store = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=once)
    proxy.plan("500", when=lambda line: part_number(line) in ("3", "4", "5"), times=6)
    assert len(store.upload([tmp_path / "big.bin"], progress=None).failed) == 1
    proxy.calm()
    (record,) = Journal(journal).records()
    admin.abort_multipart_upload(Bucket=location.bucket, Key=record["key"], UploadId=record["upload_id"])
    proxy.plan("nosuchupload", when=lists_open_uploads, times=10)
    since = len(proxy.requests)

    resumed = dataclasses.replace(SMALL_PARTS, journal_dir=journal)
    report = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=resumed).upload(
        [tmp_path / "big.bin"], progress=None
    )

    assert report.ok and sorted(parts_sent(proxy, since)) == sorted(PARTS), report.summary()
    assert stored(admin, location) == data
