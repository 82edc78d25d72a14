"""Runs a plan of file tasks: whole files on one thread pool, parts of large files on another,
retries with backoff, Cancel, progress and the report. What each step does for an upload or a
download is the business of :mod:`.uploads` and :mod:`.downloads`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from botocore.exceptions import ClientError, FlexibleChecksumError

from ..errors import IntegrityError, ProvenaWidgetsError
from ..s3errors import is_fatal, is_transient
from .cancel import Cancelled, CancelToken
from .crt import CrtCall, CrtRequests
from .journal import Journal
from .metering import Meter
from .plan import FileTask
from .progress import ProgressCallback, ProgressTracker
from .report import Direction, FileResult, Status, TransferReport
from .settings import TransferSettings

log = logging.getLogger(__name__)

BATCH = 8  # small files a worker keeps in flight through the CRT
DAMAGED_TRIES = 2  # a file whose bytes arrive damaged is fetched or sent once more, then it fails

PartWork = Callable[["FileRun", int, int, int], None]  # (run, part number, offset, length)


def arrived_damaged(error: BaseException) -> bool:
    """Bytes that failed a checksum on the way (ours, botocore's, the CRT's or the server's)."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in ("BadDigest", "InvalidDigest")
    return isinstance(error, (IntegrityError, FlexibleChecksumError))


@dataclass
class FileRun:
    """A file task being carried out, and what its steps have learnt so far."""

    index: int
    task: FileTask
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    parts_left: int = 0
    upload_id: str | None = None
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)  # uploads: finished parts
    temp: Path | None = None
    remote_mtime: float | None = None
    journal_key: str | None = None  # the name of this transfer's resume record
    record: dict[str, Any] = field(default_factory=dict)  # the resume record itself
    checksum: str | None = None  # the flexible checksum stored (uploads) or checked (downloads)
    state: Any = None  # what a direction's steps keep about a file in parts
    discard_record: bool = False  # what was kept is wrong: do not resume from it
    damaged: int = 0  # times the file's bytes arrived damaged
    error: ProvenaWidgetsError | None = None
    cancelled: bool = False


class Engine(Protocol):
    """What the steps of a transfer use of the engine that runs it."""

    client: Any
    ranged_client: Any
    crt: CrtRequests | None
    bucket: str
    settings: TransferSettings
    endpoint: str
    journal: Journal
    checksum: str | None

    def translate(self, error: BaseException, action: str, path: str) -> ProvenaWidgetsError: ...


class Steps(Protocol):
    """What one direction does with a file: the scheduler decides when, these decide how."""

    def start(self, run: FileRun) -> None:
        """Carry out the file whole, or queue its parts with :meth:`Execution.submit_parts`."""

    def finish_parts(self, run: FileRun) -> None:
        """Every part arrived: complete the upload, or verify and keep the download."""

    def start_again(self, run: FileRun) -> None:
        """The assembled file failed its check: start it over (once)."""

    def cleanup(self, run: FileRun) -> None:
        """After a failure or Cancel: keep what a resumable transfer finished, remove the rest."""


@runtime_checkable
class BatchedSteps(Steps, Protocol):
    """Steps that can also send whole small files through the CRT, several in flight per thread."""

    def start_batched(self, run: FileRun, meter: Meter) -> CrtCall: ...

    def end_batched(self, run: FileRun, call: CrtCall) -> None:
        """Wait for the request and finish the file."""


class StepsBase:
    """What the steps of either direction start from."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.engine = execution.engine
        self.settings = execution.settings
        self.client = execution.engine.client
        self.bucket = execution.engine.bucket


class Execution:
    """One call of :meth:`TransferEngine.run`."""

    def __init__(
        self,
        engine: Engine,
        direction: Direction,
        tasks: list[FileTask],
        progress: ProgressCallback | None,
        cancel: CancelToken,
        steps: Callable[[Execution], Steps],
    ) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.direction = direction
        self.tasks = tasks
        self.stop = cancel  # set by the user, or by the engine on a fatal error
        self.fatal: ProvenaWidgetsError | None = None
        self.failures: list[ProvenaWidgetsError] = []  # each failed file's error, in order
        self.results: list[FileResult | None] = [None] * len(tasks)
        self.remaining = len(tasks)
        self.all_done = threading.Event()
        self.lock = threading.Lock()
        self.tracker = ProgressTracker(
            direction,
            progress,
            files_total=len(tasks),
            bytes_total=sum(task.size for task in tasks),
            cancel=cancel.cancel,
            interval=self.settings.progress_interval,
        )
        self.pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="provena-xfer")
        self.part_pool = ThreadPoolExecutor(self.settings.part_workers, thread_name_prefix="provena-part")
        self.steps = steps(self)
        self.batched = self.steps if engine.crt is not None and isinstance(self.steps, BatchedSteps) else None

    def run(self) -> TransferReport:
        started = time.monotonic()
        self.tracker.start()
        try:
            self._submit_all()
            self.all_done.wait()
        finally:
            self.pool.shutdown(wait=True)
            self.part_pool.shutdown(wait=True)
            self.tracker.close()
        report = TransferReport(
            self.direction,
            [result for result in self.results if result is not None],
            seconds=time.monotonic() - started,
            cancelled=self.stop.cancelled and self.fatal is None,
        )
        if self.fatal is not None:
            self.fatal.report = report
            raise self.fatal
        damage = next((e for e in self.failures if isinstance(e, IntegrityError)), None)
        if damage is not None:  # never silent, though the other files went on
            damage.report = report
            raise damage
        return report

    def _submit_all(self) -> None:
        batch: list[FileRun] = []
        for index, task in enumerate(self.tasks):
            run = FileRun(index, task)
            if task.action == "skip":
                self.finish(run, "skipped", task.reason)
            elif task.action == "fail":
                self.finish(run, "failed", task.reason)
            elif self._batchable(task):
                batch.append(run)
                if len(batch) == BATCH:
                    self.pool.submit(self._run_batch, batch)
                    batch = []
            else:
                self.pool.submit(self.guard, run, self._begin)
        if batch:
            self.pool.submit(self._run_batch, batch)
        if not self.tasks:
            self.all_done.set()

    def _batchable(self, task: FileTask) -> bool:
        """Whether the file goes whole through the CRT, several in flight per thread."""
        return (
            self.batched is not None and not task.is_folder and task.size < self.settings.multipart_threshold
        )

    def _run_batch(self, runs: list[FileRun]) -> None:
        """Whole small files through the CRT, several in flight per thread: a thread per request
        costs more in hand-offs than the request itself. A file whose first try fails goes the
        usual way (retries with backoff, typed errors)."""
        assert self.batched is not None
        started: list[tuple[FileRun, Meter, CrtCall | None]] = []
        for run in runs:
            if self.stop.cancelled:
                self.fail(run, None)
                continue
            run.started = time.monotonic()
            self.tracker.file_started(run.index, run.task.path, run.task.size)
            meter = Meter(self.tracker, run.index, self.stop)
            try:
                call: CrtCall | None = self.batched.start_batched(run, meter)
            except Exception:  # retried below, the usual way
                call = None
            started.append((run, meter, call))
        for run, meter, call in started:
            try:
                if call is None:
                    raise _NotStarted
                self.batched.end_batched(run, call)
            except Exception as exc:
                meter.rollback()
                run.damaged += arrived_damaged(exc)
                self.guard(run, self._begin)

    def _begin(self, run: FileRun) -> None:
        run.started = time.monotonic()
        self.tracker.file_started(run.index, run.task.path, run.task.size)
        self.steps.start(run)

    def guard(self, run: FileRun, step: Callable[[FileRun], None]) -> None:
        """Run one step of a file; any error ends that file (and, if fatal, the transfer)."""
        try:
            self.stop.check()
            step(run)
        except Cancelled:
            self.fail(run, None)
        except Exception as exc:
            error = self.engine.translate(exc, self.direction, run.task.path)
            log.debug("%s %s failed: %s", self.direction, run.task.path, error)
            self.fail(run, error)

    def fail(self, run: FileRun, error: ProvenaWidgetsError | None) -> None:
        """End a file that failed (``error``) or was cancelled (``None``) outside its parts."""
        self._note(run, error)
        self._end_unfinished(run)

    def _note(self, run: FileRun, error: ProvenaWidgetsError | None) -> None:
        """Note a file's first error (``None``: cancelled); a fatal one stops the transfer."""
        if error is not None and is_fatal(error):
            with self.lock:
                if self.fatal is None:
                    self.fatal = error
            self.stop.cancel()
        with run.lock:
            if error is None:
                run.cancelled = True
            elif run.error is None:
                run.error = error

    def _end_unfinished(self, run: FileRun) -> None:
        self.steps.cleanup(run)
        if run.error is not None:
            with self.lock:
                self.failures.append(run.error)
            self.finish(run, "failed", str(run.error))
        elif self.fatal is not None:
            self.finish(run, "cancelled", f"stopped: {self.fatal}")
        else:
            self.finish(run, "cancelled", "cancelled")

    def finish(self, run: FileRun, status: Status, reason: str = "") -> None:
        task = run.task
        done = status == "transferred"
        source, destination = task.ends(self.direction)
        result = FileResult(
            source,
            destination,
            task.size,
            status,
            task.size if done else 0,
            time.monotonic() - run.started if done else 0.0,
            reason,
            run.checksum if done else None,
        )
        self.results[run.index] = result
        self.tracker.file_finished(run.index, result)
        with self.lock:
            self.remaining -= 1
            if self.remaining == 0:
                self.all_done.set()

    def attempts(self, run: FileRun, operation: Callable[[Meter], None]) -> None:
        """Call ``operation`` until it succeeds, retrying transient failures with backoff and
        damaged bytes once."""
        delay = self.settings.backoff
        for attempt in range(1, self.settings.attempts + 1):
            meter = Meter(self.tracker, run.index, self.stop)
            try:
                operation(meter)
                return
            except Exception as exc:
                meter.rollback()
                if self.stop.cancelled:
                    raise Cancelled from exc
                damaged = arrived_damaged(exc)
                run.damaged += damaged
                worth_it = run.damaged < DAMAGED_TRIES if damaged else is_transient(exc)
                if attempt == self.settings.attempts or not worth_it:
                    raise
                log.debug("retrying %s after %s (attempt %d)", run.task.path, exc, attempt)
                if self.stop.wait(delay):
                    raise Cancelled from exc
                delay *= 2

    def submit_parts(self, run: FileRun, work: PartWork, part_size: int, done: set[int]) -> None:
        """Queue the parts not yet done; parts a journal says are done count as moved at once."""
        size = run.task.size
        parts = [
            (number, offset, min(part_size, size - offset))
            for number, offset in enumerate(range(0, size, part_size), start=1)
        ]
        todo = [part for part in parts if part[0] not in done]
        for _, _, length in (part for part in parts if part[0] in done):
            self.tracker.advance(run.index, length)
        with run.lock:
            run.parts_left = max(1, len(todo))
        if not todo:  # everything arrived before the stop: only completing is left
            self._part_done(run)
        for number, offset, length in todo:
            self.part_pool.submit(self._guard_part, run, work, number, offset, length)

    def _guard_part(self, run: FileRun, work: PartWork, number: int, offset: int, length: int) -> None:
        with run.lock:
            skip = run.error is not None or run.cancelled
        if not skip:
            try:
                self.stop.check()
                work(run, number, offset, length)
            except Cancelled:
                self._note(run, None)
            except Exception as exc:
                self._note(run, self.engine.translate(exc, self.direction, run.task.path))
        self._part_done(run)

    def _part_done(self, run: FileRun) -> None:
        """After the last part: finish the file, unless anything failed or the transfer was
        cancelled meanwhile (then nothing completes, and what finished is kept for resuming)."""
        with run.lock:
            run.parts_left -= 1
            last = run.parts_left == 0
            if last and self.stop.cancelled and run.error is None:
                run.cancelled = True
            ok = run.error is None and not run.cancelled
        if not last:
            return
        if not ok:
            self._end_unfinished(run)
            return
        try:
            self.steps.finish_parts(run)
        except Cancelled:
            self.fail(run, None)
        except Exception as exc:
            error = self.engine.translate(exc, self.direction, run.task.path)
            run.damaged += arrived_damaged(exc)
            if isinstance(error, IntegrityError) and run.damaged < DAMAGED_TRIES and not self.stop.cancelled:
                log.debug("starting %s again: %s", run.task.path, error)
                self.tracker.advance(run.index, -run.task.size)
                self.part_pool.submit(self.guard, run, self.steps.start_again)
                return
            run.error = error
            self._end_unfinished(run)


class _NotStarted(Exception):
    """A batched request could not start: the file goes the usual way."""
