"""Fixtures: a real moto S3 server (auth mode) on 127.0.0.1 for the session, a fresh dataset per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from proxy import Proxy

from provena_widgets import Credentials, DatasetLocation, DatasetStore, TransferSettings
from provena_widgets.provena import DeviceLogin
from provena_widgets.sandbox.provena_standin import ProvenaStandIn, demo_world
from provena_widgets.sandbox.s3server import LocalS3Server

BUCKET = "rrap-storage-bucket"
MiB = 1024 * 1024
_counter = itertools.count(1)

# Small multipart sizes so multipart paths run on small files; moto's minimum part is 5 MiB.
SMALL_PARTS = TransferSettings(multipart_threshold=6 * MiB, part_size=5 * MiB, part_workers=8)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    with LocalS3Server() as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never pick up the machine's AWS configuration."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # resume journals stay per test


@pytest.fixture
def location() -> DatasetLocation:
    """A fresh, empty dataset folder for each test."""
    return DatasetLocation.from_handle(f"10378.1/{7000000 + next(_counter)}", bucket=BUCKET)


@pytest.fixture
def credentials(s3_server: LocalS3Server, location: DatasetLocation) -> Credentials:
    """Write credentials limited to the test's dataset folder, minted by the server's STS."""
    return s3_server.dataset_credentials(location.bucket, location.prefix, write=True)


@pytest.fixture
def read_credentials(s3_server: LocalS3Server, location: DatasetLocation) -> Credentials:
    return s3_server.dataset_credentials(location.bucket, location.prefix, write=False)


@pytest.fixture
def store(s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation) -> DatasetStore:
    return DatasetStore(credentials, location, endpoint_url=s3_server.endpoint_url, settings=SMALL_PARTS)


@pytest.fixture
def proxy(s3_server: LocalS3Server) -> Iterator[Proxy]:
    """A TCP proxy in front of the server (tests/proxy.py), to count, hold, slow and break traffic."""
    with Proxy(s3_server.port) as through:
        yield through


@pytest.fixture
def admin(s3_server: LocalS3Server) -> Any:
    """An all-powerful S3 client, to plant objects and inspect the server behind the product's back."""
    return s3_server.admin_client()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def tree_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path (with /), and its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def remote_keys(admin: Any, location: DatasetLocation) -> dict[str, int]:
    """Keys under the dataset (relative) and their sizes, as the server has them."""
    found: dict[str, int] = {}
    for page in admin.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.prefix
    ):
        for item in page.get("Contents", []):
            found[item["Key"][len(location.prefix) :]] = item["Size"]
    return found


def open_uploads(admin: Any, location: DatasetLocation) -> list[str]:
    response = admin.list_multipart_uploads(Bucket=location.bucket, Prefix=location.prefix)
    return [upload["Key"] for upload in response.get("Uploads", [])]


# -- the Provena stand-in -------------------------------------------------------------------

SAMPLE = "10378.1/1234567"
LOCKED, RELEASED, READ_ONLY = "10378.1/2000001", "10378.1/2000002", "10378.1/2000003"
_buckets = itertools.count(1)


@pytest.fixture
def provena(s3_server: LocalS3Server, request: pytest.FixtureRequest) -> Iterator[ProvenaStandIn]:
    options: dict[str, Any] = getattr(request, "param", {})
    with demo_world(
        s3_server, bucket=f"provena-test-{next(_buckets)}", device_interval=0, **options
    ) as stand_in:
        yield stand_in


def approve_in_browser(login: DeviceLogin, user: str, action: str = "approve") -> None:
    """What the user does: open the link, pick who they are, press the button."""
    page = requests.get(login.verification_uri_complete, timeout=10)
    assert page.status_code == 200 and login.user_code in page.text
    requests.post(
        login.verification_uri,
        data={"user_code": login.user_code, "username": user, "action": action},
        timeout=10,
    ).raise_for_status()
