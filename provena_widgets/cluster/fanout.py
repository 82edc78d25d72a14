"""Running a planned transfer on a Dask cluster: batches on the workers, one report in the kernel.

The kernel plans (one listing, the same overwrite decisions), checks that the workers see the local
paths, and submits balanced batches (:mod:`.batches`) that each run the engine on a worker
(:mod:`.worker`); a file far larger than a batch's share goes as spans of its parts, which the
kernel opens and finishes (:mod:`.spread`). While they run, the kernel adds their progress up into
the caller's callback (:mod:`.progress`), keeps the credentials the workers read current, and
passes Cancel on through a Dask ``Event``. A worker lost mid-way costs only its unfinished files:
Dask runs its batch again elsewhere, and the rerun skips what was finished and resumes multipart
work from the journal (or, where ListParts is allowed, from the open upload itself).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from distributed import Event, Queue, Variable, wait

from ..credentials import Credentials
from ..errors import IntegrityError, LocalPathError, ProvenaWidgetsError
from ..folder.connection import Connection
from ..transfer.cancel import CancelToken
from ..transfer.plan import FileTask
from ..transfer.progress import ProgressCallback, TransferProgress
from ..transfer.report import Direction, TransferReport
from .batches import batch_count, share, split
from .progress import Aggregate, BatchProgress
from .spread import SpanDone, Spreads, without
from .worker import BatchJob, Channels, engine_for, missing, run_batch

log = logging.getLogger(__name__)

REFRESH_WINDOW = timedelta(minutes=15)  # botocore renews credentials this long before they expire
PROBE_EVERY = 5.0  # seconds between the kernel's renewal attempts while inside that window
SAMPLE = 3  # local paths each worker checks before the transfer


def run_on_cluster(
    client: Any,
    connection: Connection,
    direction: Direction,
    tasks: list[FileTask],
    progress: ProgressCallback | None,
    cancel: CancelToken,
) -> TransferReport:
    """Run ``tasks`` in batches on the workers of ``client`` (a ``distributed.Client``); the report
    covers every file. Raises as a transfer in the kernel does: the first fatal error, with the
    merged report attached (the other batches cancelled), or ``IntegrityError`` after all ran."""
    workers = len(client.scheduler_info()["workers"])
    refuse_unless_shared(client, direction, tasks)
    spreads = Spreads(engine_for(connection), direction)
    try:
        pieces = spreads.split(tasks, share(tasks, workers))
        batches = split(pieces, batch_count(pieces, workers))
        return _fan_out(client, connection, direction, len(tasks), batches, progress, cancel, spreads)
    finally:
        spreads.abandon()  # the files spread that never got finished: kept for resuming, or removed


def _fan_out(
    client: Any,
    connection: Connection,
    direction: Direction,
    files: int,
    batches: list[list[FileTask]],
    progress: ProgressCallback | None,
    cancel: CancelToken,
    spreads: Spreads,
) -> TransferReport:
    """Run the batches; merge their reports, with one result for each spread file."""
    channels = Channels(uuid.uuid4().hex[:12])
    started, clock = time.time(), time.monotonic()
    credentials = Renewal(connection, Variable(channels.name("credentials"), client=client))
    stop, queue = (
        Event(channels.name("cancel"), client=client),
        Queue(channels.name("progress"), client=client),
    )
    forget = cancel.on_cancel(stop.set)
    moving = [sum(task.size for task in batch if task.action == "transfer") for batch in batches]
    first = TransferProgress(direction, 0, files, 0, sum(moving), 0.0, 0.0, _cancel=cancel.cancel)
    aggregate = Aggregate(first, progress, moving, connection.settings.progress_interval)
    where = (connection.location, connection.endpoint_url, connection.client.meta.region_name)
    jobs = [
        BatchJob(channels, i, direction, batch, *where, connection.settings, started)
        for i, batch in enumerate(batches)
    ]
    futures = [
        client.submit(
            run_batch, job, key=f"provena-{direction}-{channels.transfer_id}-{job.index}", pure=False
        )
        for job in jobs
    ]
    try:
        while not _all_done(futures, connection.settings.progress_interval):
            _absorb(queue.get(batch=True), aggregate, spreads)
            credentials.keep_current()
            if _fatal(futures):
                stop.set()
            aggregate.emit()
        _absorb(queue.get(batch=True), aggregate, spreads)
        report, error = _merge(direction, futures, cancel.cancelled, time.monotonic() - clock)
        report.files, span_results = without(report.files, spreads.destinations())
        stopped = report.cancelled or (error is not None and not isinstance(error, IntegrityError))
        finished, errors = spreads.finish(span_results, stopped)
        report.files.extend(finished)
        error = error or next(iter(errors), None)
        aggregate.finish(report)
    finally:
        forget()
        client.cancel(futures)
        _release(client, channels, len(batches), credentials.variable, stop, queue)
    if error is not None:
        error.report = report
        raise error
    return report


def refuse_unless_shared(client: Any, direction: Direction, tasks: list[FileTask]) -> None:
    """Check on every worker that it sees the local side (uploads: a few source files; downloads:
    the destination folder); refuse with one line if one does not."""
    moving = [task for task in tasks if task.action == "transfer"]
    if not moving:
        return
    if direction == "upload":
        step = max(1, len(moving) // SAMPLE)
        paths = sorted({str(task.local) for task in moving[::step][:SAMPLE] + moving[-1:]})
    else:
        folder = Path(os.path.commonpath([str(task.local.parent) for task in moving]))
        folder.mkdir(parents=True, exist_ok=True)
        paths = [str(folder)]
    unseen = {worker: lost for worker, lost in client.run(missing, paths).items() if lost}
    if unseen:
        worker, lost = next(iter(unseen.items()))
        raise LocalPathError(
            f"The Dask worker {worker} cannot see {lost[0]}: transfers on a cluster need the local "
            "files on a file system every worker shares with this kernel."
        )


class Renewal:
    """Keeps the credentials the workers read current: the kernel's, published again whenever they
    change, and renewed inside botocore's renewal window (asked at most every few seconds)."""

    def __init__(self, connection: Connection, variable: Any) -> None:
        self._connection = connection
        self.variable = variable
        self._published: Credentials = connection.credentials
        self._probed = float("-inf")
        variable.set(self._published)

    def keep_current(self) -> None:
        connection = self._connection
        left = self._published.remaining()
        due = time.monotonic() - self._probed >= PROBE_EVERY
        if connection.renews and left is not None and left < REFRESH_WINDOW and due:
            self._probed = time.monotonic()
            try:
                connection.renew_if_due()
            except Exception as err:  # whatever renewing raised: the transfer goes on meanwhile
                log.warning("Could not renew the credentials for the workers yet: %s", err)
        if connection.credentials is not self._published:
            self._published = connection.credentials
            self.variable.set(self._published)


def _all_done(futures: list[Any], seconds: float) -> bool:
    """Wait up to ``seconds`` for every batch to end; True when they all have."""
    try:
        wait(futures, timeout=seconds)
    except TimeoutError:
        return False
    return True


def _absorb(messages: list[Any], aggregate: Aggregate, spreads: Spreads) -> None:
    """Progress to the aggregate, what spans of large files gave to their spreads."""
    aggregate.absorb(message for message in messages if isinstance(message, BatchProgress))
    spreads.absorb(message for message in messages if isinstance(message, SpanDone))


def _fatal(futures: list[Any]) -> bool:
    """Whether a batch stopped on an error that stops the whole transfer (not a damaged file)."""
    return any(
        future.status == "error" and not isinstance(future.exception(), IntegrityError) for future in futures
    )


def _merge(
    direction: Direction, futures: list[Any], cancelled: bool, seconds: float
) -> tuple[TransferReport, ProvenaWidgetsError | None]:
    """One report over every batch, and the error to raise: the first fatal one, else the first."""
    report = TransferReport(direction, seconds=seconds, cancelled=cancelled)
    errors: list[ProvenaWidgetsError] = []
    for future in futures:
        try:
            part = future.result()
        except ProvenaWidgetsError as err:
            errors.append(err)
            part = err.report
        except Exception as err:  # the batch itself failed (its workers died again and again)
            errors.append(ProvenaWidgetsError(f"A part of the transfer could not run on the cluster: {err}"))
            part = None
        if part is not None:
            report.files.extend(part.files)
            report.cancelled = report.cancelled or part.cancelled
    fatal = [err for err in errors if not isinstance(err, IntegrityError)]
    first = (fatal or errors)[:1]
    return report, first[0] if first else None


def _release(client: Any, channels: Channels, batches: int, credentials: Any, stop: Any, queue: Any) -> None:
    """Forget the transfer's Dask primitives (the credentials among them) on the scheduler."""
    credentials.delete()
    for event in [stop, *(Event(channels.name(f"started-{i}"), client=client) for i in range(batches))]:
        event.clear()
    queue.close()
