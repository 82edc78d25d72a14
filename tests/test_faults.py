"""Faults between us and the server: each either recovers by retrying or stops with a clear error,
and nothing at the destination is ever partial or corrupt."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MiB, remote_keys, tree_of, write_tree
from proxy import Proxy

from provena_widgets import (
    CredentialsExpired,
    DatasetLocation,
    DatasetStore,
    IntegrityError,
    TransferSettings,
)

# Short timeouts and quick retries, so faults cost little time.
FAULTY = TransferSettings(
    multipart_threshold=6 * MiB, part_size=5 * MiB, timeout=1.0, request_attempts=3,
    attempts=8, backoff=0.02, part_workers=4, workers=8,
)  # fmt: skip
MIXED = {"mix/a.csv": b"a,b\n" * 100, "mix/empty.txt": b"", "mix/sub/c.bin": os.urandom(50_000)}


def mixed_tree(root: Path) -> Path:
    files = dict(MIXED)
    files["mix/large.bin"] = os.urandom(11 * MiB)  # three parts
    return write_tree(root, files)


def through(proxy: Proxy, credentials: Any, location: DatasetLocation) -> DatasetStore:
    return DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=FAULTY)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_request(method: str) -> Any:
    return lambda line: line.startswith(method) and "list-type" not in line and "uploads" not in line


@pytest.mark.parametrize("fault", ["reset", "500", "503", "stall", "truncate", "corrupt", "down"])
@pytest.mark.parametrize("direction", ["upload", "download"])
def test_each_fault_is_retried_and_the_result_is_exact(
    proxy: Proxy, store: DatasetStore, credentials: Any, location: DatasetLocation, tmp_path: Path,
    fault: str, direction: str,
) -> None:  # fmt: skip
    src = mixed_tree(tmp_path / "src")
    faulty = through(proxy, credentials, location)
    if direction == "download":
        store.upload([src / "mix"], progress=None)
    method = "PUT" if direction == "upload" else "GET"
    proxy.plan(fault, when=data_request(method), times=2)
    if direction == "upload":
        report = faulty.upload([src / "mix"], progress=None)
    else:
        report = faulty.download(["mix/"], to=tmp_path / "out", progress=None)
    assert [kind for _, kind in proxy.injected] == [fault, fault]
    assert report.ok, report.summary() + str([str(r) for r in report.failed])
    if direction == "upload":
        store.download(["mix/"], to=tmp_path / "check", progress=None)
        assert tree_of(tmp_path / "check") == tree_of(src)
    else:
        assert tree_of(tmp_path / "out") == tree_of(src)


@pytest.mark.parametrize("crt", [True, False], ids=["crt", "botocore"])
def test_damage_to_a_large_object_stored_in_one_piece_is_caught_and_fetched_again(
    proxy: Proxy, admin: Any, credentials: Any, location: DatasetLocation, tmp_path: Path, crt: bool
) -> None:
    """Its ETag is the MD5 of the whole file, hashed in order as the ranged parts arrive."""
    data = os.urandom(13 * MiB)  # three ranged parts
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "one/piece.bin", Body=data)
    settings = dataclasses.replace(FAULTY, crt=crt)
    faulty = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=settings)
    proxy.plan("corrupt", when=data_request("GET"), times=1)
    report = faulty.download(["one/piece.bin"], to=tmp_path / "out", progress=None)
    assert [kind for _, kind in proxy.injected] == ["corrupt"]
    assert report.ok, str([str(r) for r in report.failed])
    assert digest((tmp_path / "out" / "piece.bin").read_bytes()) == digest(data)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["piece.bin"]


def test_verify_false_skips_the_md5_check_as_the_aws_cli_does(
    proxy: Proxy, admin: Any, credentials: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    """The trade-off the setting makes: no MD5 pass, so damage the server's ETag would catch is kept."""
    data = os.urandom(13 * MiB)
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "one/piece.bin", Body=data)
    settings = dataclasses.replace(FAULTY, verify=False)
    unchecked = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=settings)
    proxy.plan("corrupt", when=data_request("GET"), times=1)
    report = unchecked.download(["one/piece.bin"], to=tmp_path / "out", progress=None)
    assert report.ok and [kind for _, kind in proxy.injected] == ["corrupt"]
    assert digest((tmp_path / "out" / "piece.bin").read_bytes()) != digest(data)


@pytest.mark.timeout(20)  # the CRT alone gives up after about 30 s; the request timeout here is 1 s
@pytest.mark.parametrize("direction", ["upload", "download"])
def test_a_server_that_goes_silent_is_abandoned_after_the_timeout_and_retried(
    proxy: Proxy, store: DatasetStore, credentials: Any, location: DatasetLocation, tmp_path: Path,
    direction: str,
) -> None:  # fmt: skip
    """The CRT would wait about 30 s on its own, whatever the timeout setting says."""
    src = mixed_tree(tmp_path / "src")
    faulty = through(proxy, credentials, location)
    if direction == "download":
        store.upload([src / "mix"], progress=None)
    method = "PUT" if direction == "upload" else "GET"
    proxy.plan("stall", when=data_request(method), times=2)  # silent until the test ends
    if direction == "upload":
        report = faulty.upload([src / "mix"], progress=None)
    else:
        report = faulty.download(["mix/"], to=tmp_path / "out", progress=None)
    assert [kind for _, kind in proxy.injected] == ["stall", "stall"]
    assert report.ok, str([str(r) for r in report.failed])
    if direction == "download":
        assert tree_of(tmp_path / "out") == tree_of(src)


def test_a_server_that_stays_away_gives_a_clear_error_and_nothing_partial(
    proxy: Proxy, store: DatasetStore, credentials: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    src = mixed_tree(tmp_path / "src")
    store.upload([src / "mix"], progress=None)
    faulty = through(proxy, credentials, location)
    proxy.plan("down", when=lambda request: "list-type=2" not in request, times=1000)  # gone once listed
    report = faulty.download(["mix/"], to=tmp_path / "out", progress=None)
    assert not report.ok and len(report.failed) == len(MIXED) + 1  # with large.bin
    assert all("reach" in r.reason or "failing" in r.reason for r in report.failed if r.size)
    finals = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and not p.name.endswith(".part")]
    assert finals == []  # nothing under a final name
    proxy.calm()  # the server comes back: the same call completes
    assert faulty.download(["mix/"], to=tmp_path / "out", progress=None).ok
    assert tree_of(tmp_path / "out") == tree_of(src)


def test_expired_credentials_mid_upload_stop_cleanly_then_resume(
    proxy: Proxy, credentials: Any, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    src = mixed_tree(tmp_path / "src")
    faulty = through(proxy, credentials, location)
    proxy.plan("expired", when=lambda line: line.startswith("PUT") and "partNumber=2" in line, times=50)
    with pytest.raises(CredentialsExpired, match="expired") as err:
        faulty.upload([src / "mix"], progress=None)
    report = err.value.report
    assert report is not None and not report.ok
    sizes = remote_keys(admin, location)
    for result in report.transferred:  # what arrived arrived whole
        assert sizes[result.destination] == result.size
    assert "mix/large.bin" not in sizes
    proxy.calm()  # fresh credentials (moto never expires these; the fault was the proxy's)
    again = through(proxy, credentials, location).upload([src / "mix"], progress=None)
    assert again.ok
    body = admin.get_object(Bucket=location.bucket, Key=location.prefix + "mix/large.bin")["Body"].read()
    assert digest(body) == digest((src / "mix" / "large.bin").read_bytes())


FULL_DISK = """
import json, resource, signal, sys
from provena_widgets import *
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 1024 * 1024, 4 * 1024 * 1024))
spec = json.loads(sys.argv[1])
creds = Credentials(spec["ak"], spec["sk"], spec["token"])
MiB = 1024 * 1024
settings = TransferSettings(multipart_threshold=6 * MiB, part_size=5 * MiB)
location = DatasetLocation.parse(spec["location"])
store = DatasetStore(creds, location, endpoint_url=spec["endpoint"], settings=settings)
try:
    report = store.download(["mix/"], to=spec["out"], progress=None)
    print(json.dumps({"raised": None, "failed": [r.reason for r in report.failed]}))
except ProvenaWidgetsError as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc),
                      "failed": [r.reason for r in exc.report.failed] if exc.report else []}))
"""


def test_a_full_local_disk_is_a_clear_error_and_leaves_nothing_partial(
    s3_server: Any, store: DatasetStore, credentials: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    src = mixed_tree(tmp_path / "src")
    store.upload([src / "mix"], progress=None)
    spec = {
        "ak": credentials.access_key_id,
        "sk": credentials.secret_access_key,
        "token": credentials.session_token,
        "location": location.s3_uri,
        "endpoint": s3_server.endpoint_url,
        "out": str(tmp_path / "out"),
    }
    done = subprocess.run([sys.executable, "-c", FULL_DISK, json.dumps(spec)], capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["raised"] == "DiskFull" and "not enough room" in result["message"]
    assert not (tmp_path / "out" / "mix" / "large.bin").exists()
    small = {
        p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file() and ".part" not in p.name
    }
    for name, data in small.items():  # whatever finished is whole
        assert data == next(v for k, v in tree_of(src).items() if k.endswith("/" + name))


def test_soak_fifty_rounds_of_random_faults(
    proxy: Proxy, store: DatasetStore, credentials: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    """Random resets, errors, stalls, truncation and corruption; every round, every file reported,
    everything under a final name whole and right."""
    rng = random.Random(2026)
    files = {f"soak/f{i}.bin": os.urandom(rng.choice([0, 10, 4_000, 70_000, 300_000])) for i in range(8)}
    files["soak/big.bin"] = os.urandom(7 * MiB)
    src = write_tree(tmp_path / "src", files)
    expected = {digest(data) for data in files.values()}
    faulty = through(proxy, credentials, location)
    proxy.chaos(0.08, kinds=("reset", "500", "503", "truncate", "corrupt", "down"), seed=7)
    outcomes: list[bool] = []
    for round_number in range(50):
        if round_number % 2 == 0:
            report = faulty.upload([src / "soak"], overwrite="overwrite", progress=None)
        else:
            out = tmp_path / f"out{round_number}"
            try:
                report = faulty.download(["soak/"], to=out, overwrite="overwrite", progress=None)
            except IntegrityError as damaged:  # a file damaged on every try: never silent, others went on
                assert damaged.report is not None
                report = damaged.report
            for path in out.rglob("*"):
                if path.is_file() and not path.name.endswith(".part"):
                    assert digest(path.read_bytes()) in expected, f"round {round_number}: {path} is wrong"
        assert len(report.files) == len(files)
        assert all(r.status in ("transferred", "failed") for r in report.files)
        outcomes.append(report.ok)
    assert len(proxy.injected) > 20 and sum(outcomes) >= 40  # faults happened; retries carried most rounds
    proxy.calm()
    final = tmp_path / "final"
    assert faulty.upload([src / "soak"], overwrite="different", progress=None).ok
    assert faulty.download(["soak/"], to=final, progress=None).ok
    assert tree_of(final) == tree_of(src)
