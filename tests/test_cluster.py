"""cluster=: transfers fanned out over a real Dask LocalCluster (two worker processes) against the
local S3 server: byte-exact trees, a worker killed mid-way, Cancel, progress, renewed credentials."""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd
import pytest
from conftest import SMALL_PARTS, MiB, open_uploads, remote_keys, tree_of, write_tree
from distributed import Client, LocalCluster, get_task_stream
from proxy import Proxy

from provena_widgets import Credentials, DatasetLocation, DatasetStore, TransferPanel, TransferSettings
from provena_widgets.cluster.fanout import refuse_unless_shared
from provena_widgets.errors import LocalPathError
from provena_widgets.transfer.journal import Journal
from provena_widgets.transfer.plan import FileTask
from provena_widgets.transfer.progress import TransferProgress


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """One cluster for the module: two worker processes of two threads (the machine has two cores)."""
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=2, dashboard_address=None, silence_logs=40
        ) as local,
        Client(local) as client,
    ):
        yield client


def settings(tmp_path: Path, **changes: Any) -> TransferSettings:
    """Small parts, and a journal on the file system the workers share (not the test's own env)."""
    return dataclasses.replace(SMALL_PARTS, journal_dir=tmp_path / "journal", **changes)


def store_on(
    endpoint: str, credentials: Credentials, location: DatasetLocation, tmp_path: Path, **changes: Any
) -> DatasetStore:
    """A store with the cluster tests' settings (and ``changes``), talking to ``endpoint``."""
    return DatasetStore(credentials, location, endpoint_url=endpoint, settings=settings(tmp_path, **changes))


def big_file(tmp_path: Path, mib: int) -> bytes:
    """Write ``mib`` MiB of random bytes to ``big.bin``; returns them."""
    data = os.urandom(mib * MiB)
    (tmp_path / "big.bin").write_bytes(data)
    return data


def small_files(count: int, seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"d{i % 7}/f{i}.bin": rng.randbytes(rng.randrange(0, 20_000)) for i in range(count)}


class Events:
    """The progress events of a transfer; ``reached`` is set (after ``action``) at the first event
    where bytes pass ``fraction`` and ``also()`` holds."""

    def __init__(self, fraction: float = 2.0, also: Callable[[], bool] = lambda: True) -> None:
        self.seen: list[TransferProgress] = []
        self.fraction = fraction
        self.also = also
        self.reached = threading.Event()
        self.action: Callable[[], object] | None = None

    def __call__(self, event: TransferProgress) -> None:
        self.seen.append(event)
        if self.reached.is_set() or not event.bytes_done >= self.fraction * event.bytes_total > 0:
            return
        if self.also():
            if self.action is not None:
                self.action()
            self.reached.set()

    def check(self) -> None:
        """Counts never go back, the last event is the only final one, and at most ~10 a second."""
        assert self.seen and self.seen[-1].done and not any(event.done for event in self.seen[:-1])
        for before, after in zip(self.seen, self.seen[1:], strict=False):
            assert after.files_done >= before.files_done and after.bytes_done >= before.bytes_done
        span = self.seen[-1].elapsed
        assert len(self.seen) <= span / 0.1 + 2, (len(self.seen), span)


def test_a_tree_goes_up_and_down_byte_exact_on_two_workers(
    cluster: Client,
    s3_server: Any,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    files = {**small_files(300), "big/a.bin": os.urandom(7 * MiB), "big/b.bin": os.urandom(11 * MiB)}
    src = write_tree(tmp_path / "src", files)
    store = store_on(s3_server.endpoint_url, credentials, location, tmp_path)
    events = Events()
    with get_task_stream(cluster) as stream:
        report = store.upload([src], progress=events, cluster=cluster)
    assert report.ok and len(report.transferred) == len(files), report.summary()
    assert remote_keys(admin, location) == {f"src/{name}": len(data) for name, data in files.items()}
    assert {one["worker"] for one in stream.data} == set(cluster.scheduler_info()["workers"])
    keys = {one["key"] for one in stream.data}
    assert all(key.startswith("provena-upload-") for key in keys)
    events.check()
    assert sum(len(event.finished) for event in events.seen) == len(files)  # each file reported once

    events = Events()
    report = store.download(["src/"], to=tmp_path / "dst", progress=events, cluster=cluster)
    assert report.ok and len(report.transferred) == len(files)
    assert tree_of(tmp_path / "dst" / "src") == files
    events.check()

    (src / "d0" / "f0.bin").write_bytes(b"changed")
    synced = store.sync_up(src, to="src/", progress=None, cluster=cluster)
    assert [result.destination for result in synced.transferred] == ["src/d0/f0.bin"]

    secrets = [credentials.secret_access_key, credentials.session_token or "-"]
    logs = str(cluster.get_scheduler_logs()) + str(cluster.get_worker_logs()) + repr(keys)
    assert not any(secret in logs for secret in secrets)


def test_the_transfer_panel_runs_on_the_active_client_when_ticked(
    cluster: Client,
    s3_server: Any,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    files = small_files(24, seed=2)
    src = write_tree(tmp_path / "src", files)
    store = store_on(s3_server.endpoint_url, credentials, location, tmp_path)
    panel = TransferPanel(store, local_path=tmp_path)
    assert panel.on_cluster.layout.display == "flex"
    assert panel.on_cluster.description == "Run on the Dask cluster (2 workers)"
    assert panel.cluster is None  # offered, not ticked
    panel.on_cluster.value = True
    assert panel.cluster is cluster
    panel.choose_local(src)
    with get_task_stream(cluster) as stream:
        panel.upload_button.click()
        panel.wait()
        assert panel.status.level == "ok", panel.status.text
        panel.download(["src/"], to=tmp_path / "dst")
        panel.wait()
    assert panel.report is not None and panel.report.ok, panel.status.text
    assert set(remote_keys(admin, location)) == {f"src/{name}" for name in files}
    stored = {
        name: admin.get_object(Bucket=location.bucket, Key=f"{location.prefix}src/{name}")["Body"].read()
        for name in files
    }
    assert stored == files
    assert tree_of(tmp_path / "dst" / "src") == files
    ran = {one["key"].split("-")[1] for one in stream.data if one["key"].startswith("provena-")}
    assert ran == {"upload", "download"}  # both went to the workers as provena-<direction>-* tasks


def puts(proxy: Proxy) -> list[tuple[str, str]]:
    """Every PUT through the proxy: its path, and its part number ("" for a whole file)."""
    found = []
    for line in proxy.requests:
        if line.startswith("PUT "):
            url = urlsplit(line.split()[1])
            found.append((unquote(url.path), parse_qs(url.query).get("partNumber", [""])[0]))
    return found


async def die() -> None:
    """Run on a worker: the process ends at once, as a crashed or pre-empted machine's would."""
    os._exit(1)


def test_a_worker_lost_mid_upload_costs_only_its_unfinished_files(
    cluster: Client,
    proxy: Proxy,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    files = {**small_files(100, seed=1), **{f"big/{i}.bin": os.urandom(11 * MiB) for i in range(6)}}
    src = write_tree(tmp_path / "src", files)
    tuned = settings(tmp_path, workers=2, part_workers=2)
    store = DatasetStore(credentials, location, endpoint_url=proxy.endpoint_url, settings=tuned)
    journal = Journal(tuned.journal_dir)

    def journalled_now() -> set[tuple[str, str]]:
        return {
            (f"/{location.bucket}/{record['key']}", str(part))
            for record in journal.records()
            for part in record["parts"]
        }

    journalled: set[tuple[str, str]] = set()
    events = Events(0.3, also=lambda: bool(journalled_now()))
    events.action = lambda: journalled.update(journalled_now())
    transfer = store.start_upload([src], progress=events, cluster=cluster)
    assert events.reached.wait(120)
    lost = next(worker for worker, keys in cluster.processing().items() if keys)
    cluster.run(die, workers=[lost], wait=False)
    journalled |= journalled_now()
    reported = {
        f"/{location.bucket}/{location.prefix}{result.destination}"
        for event in list(events.seen)
        for result in event.finished
    }
    report = transfer.wait(180)

    assert lost not in cluster.scheduler_info()["workers"]  # it really went (its nanny started a new one)
    assert report.ok and len(report.transferred) == len(files), report.summary()
    stored = {
        name: admin.get_object(Bucket=location.bucket, Key=f"{location.prefix}src/{name}")["Body"].read()
        for name in files
    }
    assert stored == files
    sent = puts(proxy)
    again = {one for one in sent if sent.count(one) > 1}
    assert journalled and reported  # parts and files finished before the loss...
    assert not again & journalled  # ...were not sent again
    assert not {path for path, _ in again} & reported
    # Only what the lost worker had in flight goes again: two batches of (CRT slots + parts).
    assert len(sent) - len(set(sent)) <= 2 * (tuned.workers * 8 + tuned.part_workers)
    events.check()


def test_cancel_reaches_every_worker_within_a_second(
    cluster: Client, proxy: Proxy, credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> None:
    src = write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(16 * 1024) for i in range(400)})
    proxy.throttle(1.5 * MiB)
    store = store_on(proxy.endpoint_url, credentials, location, tmp_path)
    events = Events(0.2)
    transfer = store.start_upload([src], progress=events, cluster=cluster)
    assert events.reached.wait(120)
    busy = {worker for worker, keys in cluster.processing().items() if keys}
    cancelled_at = time.monotonic()
    transfer.cancel()
    report = transfer.wait(30)
    took = time.monotonic() - cancelled_at
    seen = len(proxy.requests)

    assert busy == set(cluster.scheduler_info()["workers"])  # both were moving files
    assert report.cancelled and report.not_done and report.transferred
    assert took < 1.0, took
    assert len(proxy.requests) == seen  # nothing more after the call returned
    events.check()


def connections_built() -> int:
    """Run on a worker: the connections its process has built so far."""
    from provena_widgets.cluster.worker import KEPT

    return KEPT.built


def test_workers_get_credentials_the_kernel_renews_mid_transfer(
    cluster: Client, proxy: Proxy, s3_server: Any, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    """Fifteen-minute credentials sit inside botocore's refresh window, in the kernel and on the
    workers. A worker builds one connection for its batches, and keeps it for the next transfer,
    whose renewed credentials reach it."""
    first = s3_server.dataset_credentials(location.bucket, location.prefix, duration=timedelta(minutes=15))
    second = s3_server.dataset_credentials(location.bucket, location.prefix, session_name="renewed")
    flipped = threading.Event()
    store = DatasetStore(
        first,
        location,
        endpoint_url=proxy.endpoint_url,
        settings=settings(tmp_path, workers=1),  # few requests signed ahead of the slow link
        renew=lambda: second if flipped.is_set() else first,
    )
    warm = write_tree(tmp_path / "warm", {f"f{i}.bin": os.urandom(1024) for i in range(8)})
    built = cluster.run(connections_built)
    with get_task_stream(cluster) as stream:
        assert store.upload([warm], progress=None, cluster=cluster).ok
    batches = [one["worker"] for one in stream.data if one["key"].startswith("provena-upload-")]
    assert len(batches) == 4 and set(batches) == set(cluster.scheduler_info()["workers"])
    kept = cluster.run(connections_built)
    assert {worker: kept[worker] - built[worker] for worker in kept} == {worker: 1 for worker in kept}

    src = write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(16 * 1024) for i in range(300)})
    proxy.throttle(1.5 * MiB)

    def renew_in_the_kernel() -> None:  # any kernel request inside the window renews, as Provena's would
        flipped.set()
        store.check()

    events = Events(0.3)
    events.action = renew_in_the_kernel
    since = len(proxy.requests)
    report = store.upload([src], progress=events, cluster=cluster)

    assert report.ok and len(report.transferred) == 300
    assert cluster.run(connections_built) == kept  # the batches all ran on the kept connections
    requests = proxy.requests[since:]
    signed = [line.headers.get("authorization", "") for line in requests if line.startswith("PUT ")]
    assert any(first.access_key_id in header for header in signed[:20])
    assert all(second.access_key_id in header for header in signed[-20:])  # every worker switched
    assert len(remote_keys(admin, location)) == 308


def test_refuses_local_paths_the_workers_cannot_see(cluster: Client, tmp_path: Path) -> None:
    unseen = (
        tmp_path / "only-here" / "x.bin"
    )  # no worker (nor this process) has it: what a private disk looks like
    task = FileTask(unseen, "datasets/x/x.bin", "x.bin", 1)
    with pytest.raises(LocalPathError, match=r"cannot see .*only-here/x\.bin: .*shares with this kernel"):
        refuse_unless_shared(cluster, "upload", [task])


def test_workers_read_a_dataset_file_in_place(
    cluster: Client, store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "t.csv", Body=b"a,b\n1,2\n3,4\n")
    total = cluster.submit(lambda handle: int(pd.read_csv(handle)["b"].sum()), store.open("t.csv")).result()
    assert total == 6


def test_one_large_file_goes_by_parts_on_both_workers_each_way(
    cluster: Client,
    s3_server: Any,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    """80 MiB in 5 MiB parts: four batches of four parts each; the kernel opens and finishes the file."""
    data = big_file(tmp_path, 80)
    store = store_on(s3_server.endpoint_url, credentials, location, tmp_path)
    events = Events()
    with get_task_stream(cluster) as stream:
        report = store.upload([tmp_path / "big.bin"], progress=events, cluster=cluster)
    assert report.ok and [one.destination for one in report.transferred] == ["big.bin"], report.summary()
    assert report.transferred[0].checksum == "CRC32C" and report.transferred[0].bytes == len(data)
    ran = [one["worker"] for one in stream.data if one["key"].startswith("provena-upload-")]
    assert len(ran) == 4 and set(ran) == set(cluster.scheduler_info()["workers"])
    assert [result.destination for event in events.seen for result in event.finished] == ["big.bin"]
    events.check()
    assert admin.get_object(Bucket=location.bucket, Key=f"{location.prefix}big.bin")["Body"].read() == data
    store.upload([tmp_path / "big.bin"], to="kernel/", progress=None)  # the same file, uploaded in the kernel
    assert stored_checksum(admin, location, "big.bin") == stored_checksum(admin, location, "kernel/big.bin")
    assert stored_checksum(admin, location, "big.bin")["ChecksumType"] == "COMPOSITE"
    assert open_uploads(admin, location) == []

    events = Events()
    with get_task_stream(cluster) as stream:
        report = store.download(["big.bin"], to=tmp_path / "dst", progress=events, cluster=cluster)
    assert report.ok and report.transferred[0].checksum == "CRC32C", report.summary()
    assert (tmp_path / "dst" / "big.bin").read_bytes() == data
    assert sorted(path.name for path in (tmp_path / "dst").iterdir()) == ["big.bin"]  # no .part left
    ran = [one["worker"] for one in stream.data if one["key"].startswith("provena-download-")]
    assert len(ran) == 4 and set(ran) == set(cluster.scheduler_info()["workers"])
    assert len([result for event in events.seen for result in event.finished]) == 1
    events.check()


def stored_checksum(admin: Any, location: DatasetLocation, path: str) -> dict[str, Any]:
    """The object's checksum, its type and ETag, as the server keeps them."""
    key = f"{location.prefix}{path}"
    answer = admin.get_object_attributes(
        Bucket=location.bucket, Key=key, ObjectAttributes=["Checksum", "ETag"]
    )
    return {"ETag": answer["ETag"], **answer["Checksum"]}


def test_a_cancelled_large_file_leaves_no_object_and_resumes_from_its_journal(
    cluster: Client,
    proxy: Proxy,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    """Cancel keeps the open upload and a journal record of the parts the batches sent, as the
    engine does; the next run sends only the rest."""
    data = big_file(tmp_path, 40)
    # a batch starts its second part once its first arrived
    store = store_on(proxy.endpoint_url, credentials, location, tmp_path, part_workers=1)
    proxy.throttle(4 * MiB)
    events = Events(0.01, also=lambda: len(puts(proxy)) > 4)  # four batches, one of them on its second part
    started: list[Any] = []  # the transfer, for the callback, which may run before start_upload returns
    events.action = lambda: started[0].cancel()
    started.append(store.start_upload([tmp_path / "big.bin"], progress=events, cluster=cluster))
    transfer = started[0]
    report = transfer.wait(120)
    proxy.throttle(None)
    assert report.cancelled and [one.status for one in report.files] == ["cancelled"]
    assert remote_keys(admin, location) == {}
    (record,) = Journal(tmp_path / "journal").records()
    journalled = {(f"/{location.bucket}/{location.prefix}big.bin", number) for number in record["parts"]}
    assert journalled and open_uploads(admin, location) == [f"{location.prefix}big.bin"]
    events.check()

    before = len(puts(proxy))
    report = store.upload([tmp_path / "big.bin"], progress=None, cluster=cluster)
    assert report.ok and report.transferred[0].checksum == "CRC32C", report.summary()
    again = set(puts(proxy)[before:])
    assert again and not again & journalled  # only what had not arrived
    assert len(again | journalled) == 8  # 40 MiB in 5 MiB parts
    assert admin.get_object(Bucket=location.bucket, Key=f"{location.prefix}big.bin")["Body"].read() == data
    assert open_uploads(admin, location) == [] and Journal(tmp_path / "journal").records() == []


def test_a_large_download_that_fails_leaves_no_file(
    cluster: Client,
    proxy: Proxy,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    """Without resume, a part that keeps failing fails the file: neither it nor its .part stays."""
    admin.put_object(Bucket=location.bucket, Key=f"{location.prefix}big.bin", Body=os.urandom(40 * MiB))
    store = store_on(proxy.endpoint_url, credentials, location, tmp_path, resume=False, attempts=1)
    proxy.plan("500", when=lambda line: line.startswith("GET ") and "big.bin" in line, times=1000)
    with get_task_stream(cluster) as stream:
        report = store.download(["big.bin"], to=tmp_path / "dst", progress=None, cluster=cluster)
    assert len([one for one in stream.data if one["key"].startswith("provena-download-")]) == 4  # spread
    assert [one.status for one in report.files] == ["failed"] and "download big.bin" in report.files[0].reason
    assert list((tmp_path / "dst").iterdir()) == []


def test_a_worker_lost_mid_way_through_a_large_file_costs_only_its_spans(
    cluster: Client,
    proxy: Proxy,
    credentials: Credentials,
    location: DatasetLocation,
    admin: Any,
    tmp_path: Path,
) -> None:
    data = big_file(tmp_path, 80)
    # each batch sends its four parts one after another
    store = store_on(proxy.endpoint_url, credentials, location, tmp_path, part_workers=1)
    proxy.throttle(8 * MiB)
    events = Events(0.01, also=lambda: len(puts(proxy)) > 5)  # some parts arrived, most have not
    transfer = store.start_upload([tmp_path / "big.bin"], progress=events, cluster=cluster)
    assert events.reached.wait(120)
    lost = next(worker for worker, keys in cluster.processing().items() if keys)
    cluster.run(die, workers=[lost], wait=False)
    report = transfer.wait(180)
    proxy.throttle(None)

    assert lost not in cluster.scheduler_info()["workers"]
    assert report.ok and [one.destination for one in report.transferred] == ["big.bin"], report.summary()
    assert admin.get_object(Bucket=location.bucket, Key=f"{location.prefix}big.bin")["Body"].read() == data
    sent = puts(proxy)
    again = [one for one in set(sent) if sent.count(one) > 1]
    assert len(set(sent)) == 16 and 0 < len(again) <= 8  # at most the lost worker's two spans went again
    assert open_uploads(admin, location) == []
    events.check()


def ranges_fetched(proxy: Proxy, since: int = 0) -> list[str]:
    """The Range headers of the ranged GETs through the proxy after its ``since``-th request."""
    return [line.headers["range"] for line in proxy.requests[since:] if "range" in line.headers]


def test_a_cancelled_large_download_keeps_its_part_file_and_resumes_from_its_journal(
    cluster: Client,
    proxy: Proxy,
    credentials: Credentials,
    location: DatasetLocation,
    store: DatasetStore,
    tmp_path: Path,
) -> None:
    data = big_file(tmp_path, 40)
    store.upload([tmp_path / "big.bin"], progress=None)  # in the kernel: a composite CRC32C of 5 MiB parts
    spread = store_on(proxy.endpoint_url, credentials, location, tmp_path, part_workers=1)
    proxy.throttle(4 * MiB)
    events = Events(0.01, also=lambda: len(ranges_fetched(proxy)) > 4)
    started: list[Any] = []
    events.action = lambda: started[0].cancel()
    started.append(spread.start_download(["big.bin"], to=tmp_path / "dst", progress=events, cluster=cluster))
    report = started[0].wait(120)
    proxy.throttle(None)
    assert report.cancelled and [one.status for one in report.files] == ["cancelled"]
    assert sorted(path.name for path in (tmp_path / "dst").iterdir()) == ["big.bin.part"]
    (record,) = Journal(tmp_path / "journal").records()
    assert record["parts"] and record["check"] == "CRC32C"

    before = len(proxy.requests)
    report = spread.download(["big.bin"], to=tmp_path / "dst", progress=None, cluster=cluster)
    assert report.ok and report.transferred[0].checksum == "CRC32C", report.summary()
    step = SMALL_PARTS.part_size
    again = {
        int(one.removeprefix("bytes=").split("-")[0]) // step + 1 for one in ranges_fetched(proxy, before)
    }
    assert again and not again & {int(number) for number in record["parts"]}  # only what had not arrived
    assert len(again) + len(record["parts"]) == 8
    assert tree_of(tmp_path / "dst") == {"big.bin": data}
    assert Journal(tmp_path / "journal").records() == []
