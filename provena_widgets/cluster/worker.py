"""What runs on a Dask worker: one batch of a planned transfer, on the same engine and settings.

Nothing secret travels in a task: the batch names Dask primitives, and the worker reads the
credentials from a Dask ``Variable`` the kernel keeps current (renewed ones included). A worker
process keeps its connections for later batches (:class:`KeptConnections`): building one (boto3
reads its S3 model afresh for each) cost 0.1-0.4 s of every batch before its first byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Event, Queue, Variable, get_client

from ..credentials import Credentials
from ..folder.connection import Connection
from ..folder.listing import walk
from ..location import DatasetLocation
from ..transfer.cancel import CancelToken
from ..transfer.engine import TransferEngine, TransferSettings
from ..transfer.plan import FileTask
from ..transfer.progress import TransferProgress
from ..transfer.report import Direction, FileResult, TransferReport
from .progress import BatchProgress
from .spread import SpanDone

RELAY_EVERY = 0.2  # seconds between a batch's progress messages to the kernel
READ_EVERY = 1.0  # seconds a worker keeps the credentials it read before asking again
CLOCK_SLACK = 2.0  # seconds: S3 keeps times to the second, and clocks differ a little
LOST_WORKER = "finished before its worker was lost"
KEEP = 1  # connections a worker process keeps: each holds its CRT buffers (~45 MiB after large downloads)


@dataclass(frozen=True)
class Channels:
    """The names of the Dask primitives one transfer shares between the kernel and its workers."""

    transfer_id: str

    def name(self, what: str) -> str:
        """``credentials``, ``cancel``, ``progress`` or ``started-<batch>``."""
        return f"provena-{self.transfer_id}-{what}"


@dataclass(frozen=True)
class BatchJob:
    """One batch: its files as planned in the kernel, and where and how to move them."""

    channels: Channels
    index: int
    direction: Direction
    tasks: list[FileTask]
    location: DatasetLocation
    endpoint_url: str
    region: str
    settings: TransferSettings
    started: float  # the kernel's clock when the transfer began: what a rerun finds newer was ours


class SharedCredentials:
    """The kernel's latest credentials, read from a Dask ``Variable`` at most once a second."""

    def __init__(self, variable: Any) -> None:
        self._variable = variable
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._value: Credentials | None = None

    def latest(self) -> Credentials:
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at >= READ_EVERY:
                self._value = self._variable.get(timeout=30)
                self._read_at = time.monotonic()
            return self._value


class Borrowers:
    """The batches using one kept connection: it renews from the credentials ``Variable`` of the
    latest of them still running (requests are made only inside a batch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: list[SharedCredentials] = []

    @contextmanager
    def borrowed(self, source: SharedCredentials) -> Iterator[None]:
        with self._lock:
            self._sources.append(source)
        try:
            yield
        finally:
            with self._lock:
                self._sources.remove(source)

    def latest(self) -> Credentials:
        with self._lock:
            source = self._sources[-1]
        return source.latest()


class KeptConnections:
    """This worker process's connections, reused by later batches of the transfer or of the next:
    one per endpoint, region, dataset folder, settings and credentials, these known by a keyed
    digest (never by value, nor in a key that could be logged); at most ``KEEP``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._salt = os.urandom(16)
        self._kept: OrderedDict[Hashable, tuple[Connection, Borrowers]] = OrderedDict()
        self.built = 0  # connections built so far

    @contextmanager
    def connection(self, job: BatchJob, source: SharedCredentials) -> Iterator[Connection]:
        """The connection for ``job``, renewing from ``source`` while the batch holds it."""
        first = source.latest()
        key = (job.endpoint_url, job.region, job.location, job.settings, self._digest(first))
        with self._lock:
            if key not in self._kept:
                borrowers = Borrowers()
                renew = borrowers.latest if first.expiry is not None else None
                built = Connection(first, job.location, job.endpoint_url, job.region, job.settings, renew)
                self._kept[key] = (built, borrowers)
                self.built += 1
            self._kept.move_to_end(key)
            connection, borrowers = self._kept[key]
            while len(self._kept) > KEEP:
                self._kept.popitem(last=False)
        with borrowers.borrowed(source):
            yield connection

    def _digest(self, credentials: Credentials) -> str:
        fields = (credentials.access_key_id, credentials.secret_access_key, credentials.session_token or "")
        text = "\0".join((*fields, str(credentials.expiry)))
        return hashlib.blake2b(text.encode(), key=self._salt, digest_size=16).hexdigest()


KEPT = KeptConnections()


class Relay:
    """Sends the batch's progress to the kernel through a Dask ``Queue``, every ``RELAY_EVERY``
    seconds at most (and its last event); files finished in between travel together. Spans of a
    file's parts count as bytes, not as files: the kernel reports the file once it finishes it."""

    def __init__(self, queue: Any, index: int, earlier: list[FileResult], spans: set[str]) -> None:
        self._queue = queue
        self._index = index
        self._attempt = uuid.uuid4().hex[:8]
        self._earlier = earlier
        self._pending = list(earlier)
        self._spans = spans  # the destinations of the batch's spans
        self._spans_ended = 0
        self._last = float("-inf")

    def __call__(self, event: TransferProgress) -> None:
        files = [result for result in event.finished if result.destination not in self._spans]
        self._spans_ended += len(event.finished) - len(files)
        self._pending.extend(files)
        now = time.monotonic()
        if not event.done and now - self._last < RELAY_EVERY:
            return
        self._last = now
        earlier_bytes = sum(result.bytes for result in self._earlier)
        finished, self._pending = tuple(self._pending), []
        sent = dataclasses.replace(
            event,
            files_done=event.files_done + len(self._earlier) - self._spans_ended,
            bytes_done=event.bytes_done + earlier_bytes,
            bytes_total=event.bytes_total + earlier_bytes,
            finished=finished,
            _cancel=_stays_here,
        )
        self._queue.put(BatchProgress(self._index, self._attempt, sent))


def _stays_here() -> None:
    """What an event sent to the kernel holds in place of the engine's Cancel (which cannot travel)."""


def engine_for(connection: Connection) -> TransferEngine:
    """The engine a store on ``connection`` runs (on a worker, and for the kernel's part of a spread file)."""
    return TransferEngine(
        client=connection.client,
        bucket=connection.location.bucket,
        translate=connection.translate,
        settings=connection.settings,
        endpoint=connection.endpoint_url,
        ranged_client=connection.ranged_client,
        crt=connection.crt,
    )


def run_batch(job: BatchJob) -> TransferReport:
    """Run one batch on this worker; the kernel merges the reports. What each span of a file's
    parts gave goes to the kernel on the progress ``Queue`` as the batch ends, however it ends."""
    client = get_client()
    shared = SharedCredentials(Variable(job.channels.name("credentials"), client=client))
    with KEPT.connection(job, shared) as connection:
        return _run(client, job, connection)


def _run(client: Any, job: BatchJob, connection: Connection) -> TransferReport:
    """The batch on ``connection``: a rerun first leaves out what its lost worker finished."""
    engine = engine_for(connection)
    tasks, earlier = job.tasks, list[FileResult]()
    if _run_before(client, job):
        tasks, earlier = finished_earlier(job, connection)
    queue = Queue(job.channels.name("progress"), client=client)
    spans = {task.ends(job.direction)[1] for task in tasks if task.span is not None}
    relay = Relay(queue, job.index, earlier, spans)
    token, ended = CancelToken(), threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(Event(job.channels.name("cancel"), client=client), token, ended), daemon=True
    )
    watcher.start()
    try:
        report = engine.run(job.direction, tasks, relay, token)
    finally:
        ended.set()
        for task in tasks:
            if task.span is not None:
                queue.put(SpanDone(task.key, task.span.first, dict(task.span.done)))
    report.files[:0] = earlier
    return report


def _run_before(client: Any, job: BatchJob) -> bool:
    """Whether another worker started this batch already (and was lost); marks it started."""
    started = Event(job.channels.name(f"started-{job.index}"), client=client)
    if started.is_set():
        return True
    started.set()
    return False


def _watch(cancel: Any, token: CancelToken, ended: threading.Event) -> None:
    """Cancel the batch as soon as the kernel sets the transfer's cancel ``Event``."""
    try:
        while not ended.is_set():
            if cancel.wait(timeout=0.5):
                token.cancel()
                return
    except (OSError, RuntimeError):  # the cluster is going away: the batch goes with it
        return


def finished_earlier(job: BatchJob, connection: Connection) -> tuple[list[FileTask], list[FileResult]]:
    """Split a rerun batch into what still has to move and what a lost worker already finished:
    uploads found at the destination with their size and a time since the transfer began,
    downloads found in place with their size and renamed since then. Unfinished multipart work
    resumes from its journal (on the shared file system)."""
    since = job.started - CLOCK_SLACK
    if job.direction == "upload":
        paths = [posixpath.dirname(task.path) for task in job.tasks]
        common = posixpath.commonpath(paths) if all(paths) else ""
        there = {entry.key: entry for entry in walk(connection, common)}

        def done(task: FileTask) -> bool:
            entry = there.get(task.path)
            modified = entry.modified.timestamp() if entry and entry.modified else 0.0
            return entry is not None and entry.size == task.size and modified >= since

    else:

        def done(task: FileTask) -> bool:
            try:
                found = os.stat(task.local)
            except OSError:
                return False
            return found.st_size == task.size and found.st_ctime >= since

    left, earlier = [], []
    for task in job.tasks:
        if task.action == "transfer" and not task.is_folder and task.span is None and done(task):
            earlier.append(
                FileResult(*task.ends(job.direction), task.size, "transferred", task.size, reason=LOST_WORKER)
            )
        else:
            left.append(task)
    return left, earlier


def missing(paths: list[str]) -> list[str]:
    """Of ``paths``, those this machine cannot see (run on every worker before a transfer)."""
    return [path for path in paths if not Path(path).exists()]
