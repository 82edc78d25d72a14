"""A corpus of bad input: each case gets a typed error with one plain line, and changes nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import remote_keys
from test_credentials import AK, SK, TOKEN

from provena_widgets import (
    CredentialPanel,
    Credentials,
    CredentialsFormatError,
    DatasetLocation,
    DatasetStore,
    InvalidPath,
    LocalPathError,
    LocationError,
    OutsideDataset,
    ProvenaWidgetsError,
)

CYRILLIC_A = "\u0410"  # looks like A
CREDENTIALS: list[tuple[str, str]] = [
    ("empty", ""),
    ("spaces only", "   \t  "),
    ("one value", AK),
    ("two values", f"{AK}\n{SK}"),
    ("four values", f"{AK}\n{SK}\n{TOKEN}\nextra"),
    ("order token-secret-key", f"{TOKEN}\n{SK}\n{AK}"),
    ("truncated key", f"{AK[:10]}\n{SK}\n{TOKEN}"),
    ("lower-case key", f"{AK.lower()}\n{SK}\n{TOKEN}"),
    ("key with a look-alike", f"{AK[:5]}{CYRILLIC_A}{AK[6:]}\n{SK}\n{TOKEN}"),
    ("secret with a look-alike", f"{AK}\n{SK[:5]}{CYRILLIC_A}{SK[6:]}\n{TOKEN}"),
    ("token with a look-alike", f"{AK}\n{SK}\n{TOKEN[:9]}{CYRILLIC_A}{TOKEN[10:]}"),
    ("truncated secret", f"{AK}\n{SK[:8]}\n{TOKEN}"),
    ("secret with a space", f"{AK}\n{SK[:10]} {SK[10:]}\n{TOKEN}"),
    ("secret pasted as token", f"{AK}\n{SK}\n{SK}"),
    ("short token", f"{AK}\n{SK}\n{TOKEN[:30]}"),
    (
        "token broken over lines",
        f"export AWS_ACCESS_KEY_ID={AK}\nexport AWS_SECRET_ACCESS_KEY={SK}\n"
        f"export AWS_SESSION_TOKEN={TOKEN[:60]}\n{TOKEN[60:]}",
    ),
    ("token with a quote inside", f"{AK}\n{SK}\n{TOKEN[:40]}'{TOKEN[40:]}"),
    ("missing token in bash", f'export AWS_ACCESS_KEY_ID="{AK}"\nexport AWS_SECRET_ACCESS_KEY="{SK}"'),
    ("missing key in cmd", f"SET AWS_SECRET_ACCESS_KEY={SK}\nSET AWS_SESSION_TOKEN={TOKEN}"),
    (
        "empty values",
        'export AWS_ACCESS_KEY_ID=""\nexport AWS_SECRET_ACCESS_KEY=""\nexport AWS_SESSION_TOKEN=""',
    ),
    (
        "bad JSON expiry",
        f'{{"aws_access_key_id": "{AK}", "aws_secret_access_key": "{SK}", '
        f'"aws_session_token": "{TOKEN}", "expiry": "soon"}}',
    ),
    ("JSON without credentials", '{"credentials": "none"}'),
    ("prose", "my keys are in the email from Tuesday"),
    ("a URL", "https://data.mds.gbrrestoration.org/datasets/10378.1/1234567"),
]
LOCATIONS = [
    "", "s3://", "s3:///datasets/x/", "/", "//", "bucket", "s3://rrap-storage-bucket",
    "/rrap-storage-bucket/", "s3://UPPER/datasets/x/", "s3://b_b/datasets/x/", "s3://ab/datasets/x/", "s3://rrap-storage-bucket/a//b/",
    "s3://rrap-storage-bucket/datasets/../other/", "\\rrap\\datasets\\x\\", "https://example.org/x/",
    "s3://rrap-storage-bucket/datasets/x\x00/",
]  # fmt: skip
HANDLES = ["", "1234567", "10378.1", "10378.1/", "/1234567", "abc/1", "10378.1/12 34", "10378.1/12/34"]
DATASET_PATHS = [
    "..", "../x", "a/../../x", "/abs/path", "C:\\temp\\x", "..\\..\\x", "a//b", "a\\b", "nul\x00byte",
    "new\nline", "x" * 1100,
]  # fmt: skip


def one_line(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message
    assert SK not in message and TOKEN not in message


@pytest.mark.parametrize(("case", "text"), CREDENTIALS, ids=[case for case, _ in CREDENTIALS])
def test_bad_credentials(case: str, text: str) -> None:
    with pytest.raises(CredentialsFormatError) as err:
        Credentials.parse(text)
    one_line(err.value)


@pytest.mark.parametrize("text", LOCATIONS)
def test_bad_dataset_paths(text: str) -> None:
    with pytest.raises(LocationError) as err:
        DatasetLocation.parse(text)
    one_line(err.value)


@pytest.mark.parametrize("handle", HANDLES)
def test_bad_handles(handle: str) -> None:
    with pytest.raises(LocationError) as err:
        DatasetLocation.from_handle(handle, bucket="rrap-storage-bucket")
    one_line(err.value)


def test_bad_paths_inside_the_dataset_change_nothing(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "keep.csv", Body=b"k")
    (tmp_path / "f.txt").write_text("f")
    before = remote_keys(admin, location)
    operations: list[Callable[[str], Any]] = [
        store.list,
        store.mkdir,
        lambda path: store.delete([path]),
        lambda path: store.upload([tmp_path / "f.txt"], to=path, progress=None),
        lambda path: store.download([path], to=tmp_path / "out", progress=None),
    ]
    checked = 0
    for path in DATASET_PATHS:
        for operation in operations:
            with pytest.raises(InvalidPath) as err:  # OutsideDataset is one kind of InvalidPath
                operation(path)
            one_line(err.value)
            checked += 1
    assert checked == len(DATASET_PATHS) * len(operations)
    assert remote_keys(admin, location) == before
    assert not (tmp_path / "out").exists()
    with pytest.raises(OutsideDataset):
        store.delete(["../10378-1-1/x"])


def test_bad_local_paths(store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file.txt").write_text("x")
    cases: list[Callable[[], Any]] = [
        lambda: store.upload([tmp_path / "missing.txt"], progress=None),
        lambda: store.upload([], progress=None),
        lambda: store.upload([tmp_path / "pipe"], progress=None),
        lambda: store.upload(["/dev/null"], progress=None),
        lambda: store.download(["keep.csv"], to=tmp_path / "file.txt", progress=None),
        lambda: store.sync_up(tmp_path / "file.txt"),
    ]
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "keep.csv", Body=b"k")
    for case in cases:
        with pytest.raises(LocalPathError) as err:
            case()
        one_line(err.value)
    assert set(remote_keys(admin, location)) == {"keep.csv"}


def test_zero_byte_and_huge_sparse_files(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    (tmp_path / "zero.bin").write_bytes(b"")
    with (tmp_path / "sparse.bin").open("wb") as handle:
        handle.truncate(200 * 1024**3)  # 200 GiB, no blocks on disk
    tasks = store.plan_upload([tmp_path / "zero.bin", tmp_path / "sparse.bin"])
    assert [task.size for task in tasks] == [0, 200 * 1024**3]
    assert -(-tasks[1].size // store.settings.part_size_for(tasks[1].size)) <= 10_000  # S3's part limit
    assert store.upload([tmp_path / "zero.bin"], progress=None).ok
    assert remote_keys(admin, location) == {"zero.bin": 0}


def test_the_panel_says_it_in_one_line_and_keeps_nothing(tmp_path: Path) -> None:
    panel = CredentialPanel()
    for _, text in CREDENTIALS[2:12]:
        panel.paste.value = text
        assert panel.paste.value == ""  # the pasted text left the widget
        assert panel.status.level == "error" and "\n" not in panel.status.text
    panel.dataset_path.value = "s3://rrap-storage-bucket/datasets/../x/"
    panel.access_key.value, panel.secret_key.value, panel.session_token.value = AK, SK, TOKEN
    panel.connect_button.click()
    panel.wait()
    assert panel.status.level == "error" and panel.store is None


def test_every_error_is_a_provena_widgets_error() -> None:
    for kind in (CredentialsFormatError, LocationError, InvalidPath, OutsideDataset, LocalPathError):
        assert issubclass(kind, ProvenaWidgetsError)
