"""store.fs / store.open / store.url / store.storage_options: pandas, xarray and Dask (on worker
processes) read and write dataset files in place, locked to the folder."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import BUCKET
from distributed import Client, LocalCluster, get_task_stream

from provena_widgets import Credentials, DatasetLocation, DatasetStore
from provena_widgets.errors import (
    CredentialsError,
    CredentialsExpired,
    LocationError,
    OutsideDataset,
    ProtectedFile,
)
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


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """Two worker processes of one thread each: every read runs in a process the test is not."""
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=40
        ) as local,  # ":0": None still takes port 8787, and warns when another cluster holds it
        Client(local) as client,
    ):
        yield client


def test_dask_reads_a_folder_of_csvs_on_worker_processes(
    store: DatasetStore,
    credentials: Credentials,
    admin: Any,
    location: DatasetLocation,
    cluster: Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    days = pd.DataFrame({"day": range(30), "site": ["Heron", "Lizard", "Davies"] * 10})
    days["temperature_c"] = 26 + np.sin(days["day"] / 5).round(3)
    for day in range(0, 30, 10):
        chunk = days[days["day"].between(day, day + 9)]
        plant(admin, location, f"data/days/{day:02}.csv", chunk.to_csv(index=False).encode())
    plant(admin, location, "data/other.txt", b"not a csv")

    frame = dd.read_csv("provena://data/days/*.csv", storage_options=store.storage_options)
    means = frame.groupby("site")["temperature_c"].mean()
    with get_task_stream(cluster) as stream:
        result = means.compute()
    assert frame.npartitions == 3
    expected = days.groupby("site")["temperature_c"].mean()  # pandas on the same rows
    assert result.to_dict() == pytest.approx(expected.to_dict(), rel=1e-12)
    workers = set(cluster.scheduler_info()["workers"])
    assert stream.data and {task["worker"] for task in stream.data} <= workers  # not this process

    secrets = [credentials.secret_access_key, credentials.session_token or "?"]
    graph = dict(means.__dask_graph__())
    frame.pprint()  # the expression tree, with its tasks' names and arguments' reprs
    shown = [*map(str, graph), repr(frame), capsys.readouterr().out, str(store.storage_options)]
    shown += [task["key"] if isinstance(task["key"], str) else str(task["key"]) for task in stream.data]
    assert not [text for text in shown if any(secret in text for secret in secrets)]
    assert any("read" in str(key) for key in graph)  # the keys checked are the reads' own


def test_pandas_and_fsspec_open_provena_urls(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, "data/reefs.csv", TABLE.to_csv(index=False).encode())
    options = store.storage_options
    assert pd.read_csv("provena://data/reefs.csv", storage_options=options).equals(TABLE)
    fs, path = fsspec.core.url_to_fs("provena://data/reefs.csv", **options)
    assert path == "data/reefs.csv" and fs.location == location
    with pytest.raises(OutsideDataset):
        fs.cat_file("../x")
    said = "provena:// paths need the dataset's options: pass storage_options=store.storage_options."
    with pytest.raises(CredentialsError) as missing:
        pd.read_csv("provena://data/reefs.csv")
    with pytest.raises(LocationError) as half:
        fsspec.filesystem("provena", credentials=options["credentials"])
    assert str(missing.value) == str(half.value) == said


def test_expired_credentials_are_refused_before_any_worker_gets_them(
    credentials: Credentials, location: DatasetLocation, s3_server: LocalS3Server
) -> None:
    past = dataclasses.replace(credentials, expiry=datetime.now(timezone.utc) - timedelta(minutes=1))
    store = DatasetStore(past, location, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(CredentialsExpired, match="expired at"):
        dd.read_csv("provena://data/*.csv", storage_options=store.storage_options)


def test_xarray_opens_netcdf_through_store_open(store: DatasetStore, tmp_path: Path, cluster: Client) -> None:
    grid = xr.Dataset(
        {"sst": (("lat", "lon"), np.arange(12.0).reshape(3, 4))},
        coords={"lat": [-23.5, -23.0, -22.5], "lon": [151.0, 151.5, 152.0, 152.5]},
    )
    # Written to a file first: with a distributed Client alive, xarray's in-memory write asks the
    # scheduler for a lock named after the buffer's repr and fails.
    grid.to_netcdf(tmp_path / "sst.nc", engine="h5netcdf")
    store.fs.put_file(str(tmp_path / "sst.nc"), "model/sst.nc")
    with store.open("model/sst.nc") as handle, xr.open_dataset(handle, engine="h5netcdf") as opened:
        xr.testing.assert_identical(opened.load(), grid)
    # In chunks, the file handle travels to the workers with each task and reads its rows there.
    with store.open("model/sst.nc") as handle:
        chunked = xr.open_dataset(handle, engine="h5netcdf", chunks={"lat": 1})
        with get_task_stream(cluster) as stream:
            row_means = chunked["sst"].mean(dim="lon").compute()
    assert row_means.values.tolist() == [1.5, 5.5, 9.5]
    assert stream.data and {task["worker"] for task in stream.data} <= set(
        cluster.scheduler_info()["workers"]
    )
