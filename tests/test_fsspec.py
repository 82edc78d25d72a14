"""store.fs / store.open / store.url: pandas reads and writes dataset files in place, locked to the folder."""

from __future__ import annotations

import io
import os
import pickle
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from conftest import BUCKET

from provena_widgets import Credentials, DatasetLocation, DatasetStore
from provena_widgets.errors import OutsideDataset, ProtectedFile
from provena_widgets.sandbox.s3server import LocalS3Server

MiB = 1024 * 1024
TABLE = pd.DataFrame({"site": ["Heron", "Lizard", "Orpheus"], "cover": [31.5, 22.0, 40.25]})


def plant(admin: Any, location: DatasetLocation, path: str, body: bytes) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + path, Body=body)


def test_pandas_reads_a_csv_in_place(store: DatasetStore, admin: Any, location: DatasetLocation) -> None:
    plant(admin, location, "data/reefs.csv", TABLE.to_csv(index=False).encode())
    plant(admin, location, "data/more/b.txt", b"b")
    with store.open("data/reefs.csv") as handle:
        assert pd.read_csv(handle).equals(TABLE)
    assert store.fs.ls("data", detail=False) == ["data/more", "data/reefs.csv"]
    assert store.fs.info("data/more")["type"] == "directory" and store.fs.isfile("data/reefs.csv")
    assert store.fs.glob("data/**/*.txt") == ["data/more/b.txt"]
    assert store.url("data/reefs.csv") == f"s3://{BUCKET}/{location.prefix}data/reefs.csv"
    with pytest.raises(FileNotFoundError):
        store.fs.info("data/none.csv")


def test_writes_go_up_in_one_put_or_in_parts(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    with store.open("out/table.csv", "w") as handle:
        TABLE.to_csv(handle, index=False)
    body = admin.get_object(Bucket=location.bucket, Key=location.prefix + "out/table.csv")["Body"].read()
    assert pd.read_csv(io.BytesIO(body)).equals(TABLE)

    large = os.urandom(12 * MiB + 7)
    with store.fs.open("out/large.bin", "wb", block_size=5 * MiB) as handle:
        for start in range(0, len(large), MiB):
            handle.write(large[start : start + MiB])
    stored = admin.get_object(Bucket=location.bucket, Key=location.prefix + "out/large.bin")
    assert stored["ETag"].strip('"').endswith("-3") and stored["Body"].read() == large
    assert (
        store.fs.cat_file("out/large.bin", start=5 * MiB - 3, end=5 * MiB + 3)
        == large[5 * MiB - 3 : 5 * MiB + 3]
    )
    store.fs.rm("out", recursive=True)
    assert not store.fs.exists("out/table.csv")


def test_nothing_outside_the_folder_and_metadata_stays(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, "metadata.json", b"{}")
    neighbour = f"datasets/{location.name}-neighbour/secret.csv"
    admin.put_object(Bucket=location.bucket, Key=neighbour, Body=b"not yours")
    fs = store.fs
    for path in ("../x", f"../{location.name}-neighbour/secret.csv", "/etc/passwd", "a/../../x"):
        with pytest.raises(OutsideDataset):
            fs.cat_file(path)
    assert fs.cat_file("metadata.json") == b"{}"  # readable, like downloads
    with pytest.raises(ProtectedFile):
        fs.open("metadata.json", "wb")
    with pytest.raises(ProtectedFile):
        fs.rm("metadata.json")
    assert (
        admin.get_object(Bucket=location.bucket, Key=location.prefix + "metadata.json")["Body"].read()
        == b"{}"
    )


def test_secrets_stay_out_of_reprs_and_pickles_reopen(
    store: DatasetStore, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, "x.csv", b"a\n1\n")
    fs = store.fs
    assert credentials.secret_access_key not in repr(fs) + repr(store.open("x.csv"))
    assert credentials.session_token and credentials.session_token not in repr(fs)
    copy = pickle.loads(pickle.dumps(fs))  # what a Dask worker receives
    assert copy.cat_file("x.csv") == b"a\n1\n"
    with pickle.loads(pickle.dumps(store.open("x.csv"))) as reopened:
        assert reopened.read() == b"a\n1\n"


def test_reading_renews_credentials_like_the_store(
    s3_server: LocalS3Server, location: DatasetLocation, admin: Any
) -> None:
    minted: list[Credentials] = []

    def renew() -> Credentials:
        minted.append(s3_server.dataset_credentials(location.bucket, location.prefix, session_name="renewed"))
        return minted[-1]

    # Fifteen-minute credentials sit inside botocore's refresh window: the first request renews them.
    short = s3_server.dataset_credentials(location.bucket, location.prefix, duration=timedelta(minutes=15))
    store = DatasetStore(short, location, endpoint_url=s3_server.endpoint_url, renew=renew)
    plant(admin, location, "x.csv", b"a\n1\n")
    assert pd.read_csv(store.open("x.csv"))["a"].tolist() == [1]
    assert minted and store.credentials == minted[-1]
