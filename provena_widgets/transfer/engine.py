"""The transfer engine: runs a plan of file tasks on a pool of threads against one S3 client.

Small files go in one request each; large ones in parts that interleave with other files' work on
the same pool, so no thread ever waits on another. Downloads write to a temporary name beside the
destination and are renamed only when complete; cancelled or failed multipart uploads are aborted.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, FlexibleChecksumError

from ..errors import IncompleteTransfer, IntegrityError, ProvenaWidgetsError
from ..s3errors import is_fatal, is_transient, refuses_checksum
from .crt import CrtCall, CrtRequests
from .journal import Journal
from .plan import FileTask
from .progress import ProgressCallback, ProgressTracker
from .report import Direction, FileResult, Status, TransferReport

log = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB
MAX_PARTS = 10_000
BATCH = 8  # small files a worker keeps in flight through the CRT
MTIME_METADATA = "mtime"  # seconds since the epoch, the key rclone uses
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")

ErrorTranslator = Callable[[BaseException, str, str], ProvenaWidgetsError]


@dataclass(frozen=True)
class TransferSettings:
    """Tuning knobs: concurrency, multipart sizes and retries."""

    workers: int = 32  # files in flight at once (whole small files mostly wait on the network)
    part_workers: int = 10  # parts of large files in flight at once (these use Python's CPU)
    multipart_threshold: int = 16 * MiB
    part_size: int = 8 * MiB
    attempts: int = 4  # tries per file or part, on top of botocore's own request retries
    request_attempts: int = 5  # botocore's tries per request (standard retry mode)
    timeout: float = 60.0  # seconds without an answer before a request counts as failed
    backoff: float = 0.5  # seconds before the second try; doubles each time
    chunk_size: int = 256 * KiB
    progress_interval: float = 0.1
    resume: bool = True  # keep what a stopped multipart transfer finished, and continue from it
    journal_dir: Path | None = None  # default: $XDG_CACHE_HOME/provena-widgets/journal
    checksum: str | None = "auto"  # flexible checksum for uploads: CRC32C where awscrt is installed
    crt: bool = True  # whole small files through the AWS CRT (native code) when awscrt is installed
    crt_memory: int = 32 * MiB  # bytes of bodies the CRT may hold at once (it buffers each)
    verify: bool = True  # check downloads against MD5 ETags: one MD5 pass over the bytes (~1 s/GB)

    def part_size_for(self, size: int) -> int:
        part = self.part_size
        while -(-size // part) > MAX_PARTS:
            part *= 2
        return part


def resolve_checksum(choice: str | None) -> str | None:
    """``"auto"``: CRC32C when botocore can compute it (with awscrt), else CRC32."""
    if choice != "auto":
        return choice
    try:
        import awscrt.checksums  # noqa: F401
    except ImportError:
        return "CRC32"
    return "CRC32C"


def _md5_etag(etag: str | None) -> str | None:
    """The ETag as an MD5 hex digest, when it is one (single-part uploads), else ``None``."""
    value = (etag or "").strip('"')
    return value.lower() if _MD5_HEX.fullmatch(value) else None


def _kms_or_customer_key(headers: dict[str, str]) -> bool:
    """With SSE-KMS or customer keys, S3's ETag is not the MD5 of the content."""
    return "kms" in headers.get("x-amz-server-side-encryption", "") or (
        "x-amz-server-side-encryption-customer-algorithm" in headers
    )


def _md5_of(path: Path, offset: int, length: int, digest: Any = None) -> str:
    """Feed ``length`` bytes of the file from ``offset`` to ``digest`` (a new MD5 if ``None``)."""
    digest = hashlib.md5(usedforsecurity=False) if digest is None else digest
    with path.open("rb") as handle:
        handle.seek(offset)
        while length > 0:
            block = handle.read(min(MiB, length))
            if not block:
                raise IncompleteTransfer(f"{path.name} is shorter than expected; run the download again.")
            digest.update(block)
            length -= len(block)
    return str(digest.hexdigest())


def _worth_retrying(error: BaseException) -> bool:
    """Transient network trouble, or bytes damaged on the way (a checksum that did not match)."""
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "BadDigest":
        return True
    return is_transient(error) or isinstance(error, (IntegrityError, FlexibleChecksumError))


def _mtime_from_headers(headers: dict[str, str]) -> float | None:
    """The file's own time (``x-amz-meta-mtime``), else the object's Last-Modified."""
    try:
        return float(headers[f"x-amz-meta-{MTIME_METADATA}"])
    except (KeyError, ValueError):
        pass
    try:
        return email.utils.parsedate_to_datetime(headers["last-modified"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


class CancelToken:
    """Set once to stop a transfer; safe to call from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)


class _Cancelled(Exception):
    """Raised inside a worker when the transfer was cancelled."""


class _Retry(Exception):
    """A batched request could not start: the file goes the usual way."""


class _Meter:
    """Counts one attempt's bytes into the tracker, so a failed attempt can take them back."""

    def __init__(self, tracker: ProgressTracker, file_id: int, cancel: CancelToken) -> None:
        self._tracker = tracker
        self._file_id = file_id
        self._cancel = cancel
        self.count = 0

    def add(self, nbytes: int) -> None:
        if self._cancel.cancelled:
            raise _Cancelled
        if nbytes:
            self.count += nbytes
            self._tracker.advance(self._file_id, nbytes)

    def add_quietly(self, nbytes: int) -> None:
        """Count bytes from a native callback thread, where raising would go nowhere."""
        self.count += nbytes
        self._tracker.advance(self._file_id, nbytes)

    def rollback(self) -> None:
        if self.count:
            self._tracker.advance(self._file_id, -self.count)
            self.count = 0


class _FileSlice:
    """A read-only, seekable window on a file that reports each byte once as it is first read."""

    def __init__(self, path: Path, offset: int, length: int, meter: _Meter) -> None:
        self._handle = path.open("rb")
        self._offset = offset
        self._length = length
        self._meter = meter
        self._pos = 0
        self._high_water = 0
        self._handle.seek(offset)

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._pos
        if size is None or size < 0 or size > left:
            size = left
        data = self._handle.read(size)
        self._pos += len(data)
        if self._pos > self._high_water:
            self._meter.add(self._pos - self._high_water)
            self._high_water = self._pos
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        self._handle.seek(self._offset + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _FileSlice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Run:
    """A file task being executed."""

    index: int
    task: FileTask
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    parts_left: int = 0
    upload_id: str | None = None
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)
    temp: Path | None = None
    remote_mtime: float | None = None
    journal: str | None = None  # this transfer's resume record
    record: dict[str, Any] = field(default_factory=dict)
    verify: str | None = None  # downloads: "parts" (multipart ETag) or "whole" (MD5 ETag)
    part_size: int = 0
    whole: Any = None  # downloads checked against an MD5 ETag: the MD5 of the first `hashed` bytes
    hashed: int = 0
    hasher: threading.Lock = field(default_factory=threading.Lock)
    journal_broken: bool = False  # what was kept is wrong: do not resume from it
    restarted: bool = False  # a damaged download was already fetched again once
    error: ProvenaWidgetsError | None = None
    cancelled: bool = False


def temp_path_for(destination: Path, resumable: bool) -> Path:
    """Where a download is written until complete: ``<name>.part`` for large (resumable) files,
    a hidden name for small ones."""
    if resumable:
        return destination.with_name(destination.name + ".part")
    return destination.with_name(f".{destination.name}.provena-tmp")


class TransferEngine:
    """Executes planned file tasks on one botocore S3 client (thread-safe)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        translate: ErrorTranslator,
        settings: TransferSettings | None = None,
        endpoint: str = "",
        ranged_client: Any = None,
        crt: CrtRequests | None = None,
    ) -> None:
        self.client = client
        self.ranged_client = ranged_client or client
        self.crt = crt
        self.bucket = bucket
        self.translate = translate
        self.settings = settings or TransferSettings()
        self.endpoint = endpoint
        self.journal = Journal(self.settings.journal_dir)
        self.checksum = resolve_checksum(self.settings.checksum)

    def run(
        self,
        direction: Direction,
        tasks: list[FileTask],
        progress: ProgressCallback | None,
        cancel: CancelToken,
    ) -> TransferReport:
        """Run every task; return the report. Raises the first fatal error, report attached."""
        return _Execution(self, direction, tasks, progress, cancel).run()


class _Execution:
    """One call of :meth:`TransferEngine.run`."""

    def __init__(
        self,
        engine: TransferEngine,
        direction: Direction,
        tasks: list[FileTask],
        progress: ProgressCallback | None,
        cancel: CancelToken,
    ) -> None:
        self.engine = engine
        self.client = engine.client
        self.bucket = engine.bucket
        self.settings = engine.settings
        self.direction = direction
        self.tasks = tasks
        self.stop = cancel  # set by the user, or by the engine on a fatal error
        self.fatal: ProvenaWidgetsError | None = None
        self.results: list[FileResult | None] = [None] * len(tasks)
        self.remaining = len(tasks)
        self.made_folders: set[Path] = set()
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

    # -- orchestration -------------------------------------------------------------------

    def run(self) -> TransferReport:
        started = time.monotonic()
        self.tracker.start()
        try:
            batch: list[_Run] = []
            for index, task in enumerate(self.tasks):
                run = _Run(index, task)
                if task.action == "skip":
                    self._finish(run, "skipped", task.reason)
                elif task.action == "fail":
                    self._finish(run, "failed", task.reason)
                elif self._batchable(task):
                    batch.append(run)
                    if len(batch) == BATCH:
                        self.pool.submit(self._run_batch, batch)
                        batch = []
                else:
                    self.pool.submit(self._guard, run, self._start)
            if batch:
                self.pool.submit(self._run_batch, batch)
            if not self.tasks:
                self.all_done.set()
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
        return report

    def _batchable(self, task: FileTask) -> bool:
        return (
            self.engine.crt is not None
            and not task.is_folder
            and task.size < self.settings.multipart_threshold
        )

    def _run_batch(self, runs: list[_Run]) -> None:
        """Whole small files through the CRT, several in flight per thread: a thread per request
        costs more in hand-offs than the request itself. A file whose first try fails goes the
        usual way (retries with backoff, typed errors)."""
        started: list[tuple[_Run, _Meter, CrtCall | None]] = []
        for run in runs:
            if self.stop.cancelled:
                self._fail_run(run, None)
                continue
            run.started = time.monotonic()
            self.tracker.file_started(run.index, run.task.path, run.task.size)
            meter = _Meter(self.tracker, run.index, self.stop)
            try:
                if self.direction == "upload":
                    call = self._start_crt_put(run, meter, self._checksum_header())
                else:
                    self._prepare_get(run)
                    call = self._start_crt_get(run, meter)
            except Exception:  # retried below, the usual way
                call = None
            started.append((run, meter, call))
        for run, meter, call in started:
            try:
                if call is None:
                    raise _Retry
                if self.direction == "upload":
                    call.result()
                    self._finish(run, "transferred")
                else:
                    self._end_crt_get(run, call)
                    self._commit_download(run)
            except Exception:
                meter.rollback()
                self._guard(run, self._start)

    def _guard(self, run: _Run, step: Callable[[_Run], None]) -> None:
        """Run one step of a file; any error ends that file (and, if fatal, the transfer)."""
        try:
            if self.stop.cancelled:
                raise _Cancelled
            step(run)
        except _Cancelled:
            self._fail_run(run, None)
        except Exception as exc:
            error = self.engine.translate(exc, self.direction, run.task.path)
            log.debug("%s %s failed: %s", self.direction, run.task.path, error)
            self._fail_run(run, error)

    def _fail_run(self, run: _Run, error: ProvenaWidgetsError | None) -> None:
        """End a file that failed (``error``) or was cancelled (``None``) outside its parts."""
        self._record(run, error)
        self._end_failed(run)

    def _record(self, run: _Run, error: ProvenaWidgetsError | None) -> None:
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

    def _end_failed(self, run: _Run) -> None:
        self._cleanup(run)
        if run.error is not None:
            self._finish(run, "failed", str(run.error))
        elif self.fatal is not None:
            self._finish(run, "cancelled", f"stopped: {self.fatal}")
        else:
            self._finish(run, "cancelled", "cancelled")

    def _finish(self, run: _Run, status: Status, reason: str = "") -> None:
        task = run.task
        moved = task.size if status == "transferred" else 0
        elapsed = time.monotonic() - run.started if status == "transferred" else 0.0
        source, destination = (
            (str(task.local), task.path) if self.direction == "upload" else (task.path, str(task.local))
        )
        result = FileResult(source, destination, task.size, status, moved, elapsed, reason)
        self.results[run.index] = result
        self.tracker.file_finished(run.index, result)
        with self.lock:
            self.remaining -= 1
            if self.remaining == 0:
                self.all_done.set()

    def _attempts(self, run: _Run, operation: Callable[[_Meter], None]) -> None:
        """Call ``operation`` until it succeeds, retrying transient failures with backoff."""
        delay = self.settings.backoff
        for attempt in range(1, self.settings.attempts + 1):
            meter = _Meter(self.tracker, run.index, self.stop)
            try:
                operation(meter)
                return
            except Exception as exc:
                meter.rollback()
                if self.stop.cancelled:
                    raise _Cancelled from exc
                if attempt == self.settings.attempts or not _worth_retrying(exc):
                    raise
                log.debug("retrying %s after %s (attempt %d)", run.task.path, exc, attempt)
                if self.stop.wait(delay):
                    raise _Cancelled from exc
                delay *= 2

    def _start(self, run: _Run) -> None:
        task = run.task
        run.started = time.monotonic()
        self.tracker.file_started(run.index, task.path, task.size)
        if self.direction == "upload":
            if task.size >= self.settings.multipart_threshold and not task.is_folder:
                self._start_multipart_upload(run)
            else:
                self._attempts(run, lambda meter: self._put(run, meter))
                self._finish(run, "transferred")
        elif task.is_folder:
            task.local.mkdir(parents=True, exist_ok=True)
            self._finish(run, "transferred")
        elif task.size >= self.settings.multipart_threshold:
            self._start_ranged_download(run)
        else:
            self._attempts(run, lambda meter: self._get_whole(run, meter))
            self._commit_download(run)

    def _submit_parts(
        self, run: _Run, work: Callable[[_Run, int, int, int], None], part_size: int, done: set[int]
    ) -> None:
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

    def _guard_part(
        self,
        run: _Run,
        work: Callable[[_Run, int, int, int], None],
        number: int,
        offset: int,
        length: int,
    ) -> None:
        with run.lock:
            skip = run.error is not None or run.cancelled
        if not skip:
            try:
                if self.stop.cancelled:
                    raise _Cancelled
                work(run, number, offset, length)
            except _Cancelled:
                self._record(run, None)
            except Exception as exc:
                self._record(run, self.engine.translate(exc, self.direction, run.task.path))
        self._part_done(run)

    def _part_done(self, run: _Run) -> None:
        with run.lock:
            run.parts_left -= 1
            last = run.parts_left == 0
            ok = run.error is None and not run.cancelled
        if not last:
            return
        if not ok:
            self._end_failed(run)
            return
        try:
            if self.direction == "upload":
                self._complete_multipart_upload(run)
            else:
                self._commit_download(run)
        except IntegrityError as exc:
            if run.restarted or self.stop.cancelled:
                run.error = exc
                self._end_failed(run)
            else:  # bytes were damaged on the way: fetch the whole file once more
                log.debug("restarting %s: %s", run.task.path, exc)
                run.restarted, run.journal_broken = True, False
                self.engine.journal.delete(run.journal or "")
                self._restart_download(run)
        except Exception as exc:
            run.error = self.engine.translate(exc, self.direction, run.task.path)
            self._end_failed(run)

    def _restart_download(self, run: _Run) -> None:
        self.tracker.advance(run.index, -run.task.size)
        if run.temp is not None:
            run.temp.unlink(missing_ok=True)
        run.temp = None
        self.part_pool.submit(self._guard, run, self._start_ranged_download)

    # -- uploads ----------------------------------------------------------------------------

    def _metadata(self, task: FileTask) -> dict[str, str]:
        return {MTIME_METADATA: f"{task.mtime:.3f}"} if task.mtime is not None else {}

    def _checksum_header(self) -> dict[str, str]:
        algorithm = self.engine.checksum
        return {"ChecksumAlgorithm": algorithm} if algorithm else {}

    def _checksummed(self, call: Callable[[dict[str, str]], Any]) -> Any:
        """Call with the flexible checksum; if the server refuses checksums, go on without."""
        algorithm = self.engine.checksum
        try:
            return call(self._checksum_header())
        except ClientError as exc:
            if not algorithm or not refuses_checksum(exc):
                raise
            log.info("The server refused %s checksums; uploading without them.", algorithm)
            self.engine.checksum = None
            return call({})

    def _put(self, run: _Run, meter: _Meter) -> None:
        task = run.task
        if task.is_folder:
            self.client.put_object(Bucket=self.bucket, Key=task.key, Body=b"")
            return
        if self.engine.crt is not None:
            self._checksummed(lambda extra: self._start_crt_put(run, meter, extra).result())
            return
        with _FileSlice(task.local, 0, task.size, meter) as body:

            def put(extra: dict[str, str]) -> Any:
                body.seek(0)
                return self.client.put_object(
                    Bucket=self.bucket,
                    Key=task.key,
                    Body=body,
                    ContentLength=task.size,
                    Metadata=self._metadata(task),
                    **extra,
                )

            self._checksummed(put)

    def _start_crt_put(self, run: _Run, meter: _Meter, extra: dict[str, str]) -> CrtCall:
        assert self.engine.crt is not None
        task = run.task
        checksum = extra.get("ChecksumAlgorithm")
        metadata = self._metadata(task)
        return self.engine.crt.start_put(
            task.key, task.local, task.size, metadata, checksum, meter.add_quietly
        )

    def _start_multipart_upload(self, run: _Run) -> None:
        """Start (or resume, from the journal) a multipart upload and queue its parts."""
        task = run.task
        part_size = self.settings.part_size_for(task.size)
        run.journal = Journal.name("upload", self.engine.endpoint, self.bucket, task.key, task.local)
        record = self.engine.journal.load(run.journal) if self.settings.resume else None
        identity = {"size": task.size, "mtime": task.mtime, "part_size": part_size}
        if (
            record is not None
            and all(record.get(k) == v for k, v in identity.items())
            and self._upload_exists(task.key, str(record.get("upload_id")))
        ):
            run.upload_id = str(record["upload_id"])
            run.parts = {int(number): part for number, part in record.get("parts", {}).items()}
            log.debug("resuming %s: %d parts already sent", task.path, len(run.parts))
        else:
            if record is not None:  # the file changed or the upload is gone: start over cleanly
                self._abort(task.key, record.get("upload_id"))
            response = self._checksummed(
                lambda extra: self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=task.key, Metadata=self._metadata(task), **extra
                )
            )
            run.upload_id = response["UploadId"]
            record = {"direction": "upload", "key": task.key, "local": str(task.local), **identity,
                      "upload_id": run.upload_id, "checksum": self.engine.checksum, "parts": {}}  # fmt: skip
            if self.settings.resume:
                self.engine.journal.save(run.journal, record)
        run.record = record
        self._submit_parts(run, self._upload_part, part_size, set(run.parts))

    def _upload_exists(self, key: str, upload_id: str) -> bool:
        """Whether the server still holds ``upload_id`` (ListParts is not allowed; this is)."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=key)
        return any(
            upload.get("UploadId") == upload_id and upload.get("Key") == key
            for page in pages
            for upload in page.get("Uploads", [])
        )

    def _upload_part(self, run: _Run, number: int, offset: int, length: int) -> None:
        def send(meter: _Meter) -> None:
            with _FileSlice(run.task.local, offset, length, meter) as body:
                algorithm = run.record.get("checksum", self.engine.checksum)
                extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
                response = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=run.task.key,
                    UploadId=run.upload_id,
                    PartNumber=number,
                    Body=body,
                    ContentLength=length,
                    **extra,
                )
            part = {"PartNumber": number, "ETag": response["ETag"]}
            part.update(
                {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"}
            )
            with run.lock:
                run.parts[number] = part
                run.record.setdefault("parts", {})[str(number)] = part
                if self.settings.resume and run.journal:
                    self.engine.journal.save(run.journal, run.record)

        self._attempts(run, send)

    def _complete_multipart_upload(self, run: _Run) -> None:
        parts = [run.parts[number] for number in sorted(run.parts)]
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=run.task.key,
            UploadId=run.upload_id,
            MultipartUpload={"Parts": parts},
        )
        run.upload_id = None
        if run.journal:
            self.engine.journal.delete(run.journal)
        self._finish(run, "transferred")

    # -- downloads --------------------------------------------------------------------------

    def _get(self, run: _Run, **extra: Any) -> Any:
        task = run.task
        if task.etag:
            extra["IfMatch"] = task.etag
        client = self.engine.ranged_client if "Range" in extra else self.client
        response = client.get_object(Bucket=self.bucket, Key=task.key, **extra)
        mtime = response.get("Metadata", {}).get(MTIME_METADATA)
        modified = response.get("LastModified")
        try:
            run.remote_mtime = float(mtime) if mtime else None
        except ValueError:
            run.remote_mtime = None
        if run.remote_mtime is None and modified is not None:
            run.remote_mtime = modified.timestamp()
        return response

    def _get_whole(self, run: _Run, meter: _Meter) -> None:
        temp = self._prepare_get(run)
        if self.engine.crt is not None:
            self._end_crt_get(run, self._start_crt_get(run, meter))
            return
        response = self._get(run)  # botocore checks the object's flexible checksum as it streams
        headers = {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}
        digest = hashlib.md5(usedforsecurity=False)
        written = 0
        with temp.open("wb") as handle:
            for chunk in response["Body"].iter_chunks(self.settings.chunk_size):
                handle.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                meter.add(len(chunk))
        self._check_whole(run, written, digest, headers)

    def _prepare_get(self, run: _Run) -> Path:
        self._make_folder(run.task.local.parent)
        run.temp = temp_path_for(run.task.local, resumable=False)
        return run.temp

    def _start_crt_get(self, run: _Run, meter: _Meter) -> CrtCall:
        assert self.engine.crt is not None and run.temp is not None
        task = run.task
        return self.engine.crt.start_get(task.key, run.temp, task.size, task.etag, meter.add_quietly)

    def _end_crt_get(self, run: _Run, call: CrtCall) -> None:
        """Wait for a whole-object GET by the CRT (which checks any flexible checksum as it
        writes), then check the size and the MD5 ETag."""
        assert run.temp is not None
        headers = call.result()
        run.remote_mtime = _mtime_from_headers(headers)
        digest = hashlib.md5(usedforsecurity=False)
        written = run.temp.stat().st_size
        if written == run.task.size and self._md5_to_check(run) and not _kms_or_customer_key(headers):
            _md5_of(run.temp, 0, written, digest)  # a small file, still in the page cache
        self._check_whole(run, written, digest, headers)

    def _check_whole(self, run: _Run, written: int, digest: Any, headers: dict[str, str]) -> None:
        if written != run.task.size:
            raise IncompleteTransfer(
                f"{run.task.path} arrived with {written} bytes instead of {run.task.size}; "
                "it changed on the server or the connection broke: run the download again."
            )
        etag = self._md5_to_check(run)
        if etag and not _kms_or_customer_key(headers) and digest.hexdigest() != etag:
            raise IntegrityError(
                f"{run.task.path} arrived damaged (its MD5 differs from the server's ETag), "
                "so it was not kept."
            )

    def _make_folder(self, folder: Path) -> None:
        """Create a download's folder once per transfer (thousands of files share a few folders)."""
        if folder not in self.made_folders:
            folder.mkdir(parents=True, exist_ok=True)
            self.made_folders.add(folder)

    def _md5_to_check(self, run: _Run) -> str | None:
        """The MD5 a whole-object download must match, unless checking is turned off."""
        return _md5_etag(run.task.etag) if self.settings.verify else None

    def _layout(self, run: _Run) -> tuple[int, str | None]:
        """Part size for a ranged download, and how the result can be verified against the ETag.

        Parts aligned with the upload's let the multipart ETag (MD5 of part MD5s) be checked from
        digests computed while downloading; a single-part object's ETag is the MD5 of the whole.
        """
        task = run.task
        ours = self.settings.part_size_for(task.size)
        if not self.settings.verify:  # nothing to check: no need to ask for the upload's layout
            return ours, None
        etag = (task.etag or "").strip('"')
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=task.key, PartNumber=1)
        except Exception:
            return ours, None
        count = int(head.get("PartsCount") or 0)
        first = int(head.get("ContentLength") or 0)
        if count > 1 and first >= MiB and -(-task.size // first) == count:
            return first, "parts"
        encrypted = "kms" in str(head.get("ServerSideEncryption", "")) or "SSECustomerAlgorithm" in head
        if not count and _md5_etag(etag) and not encrypted:
            return ours, "whole"
        return ours, None

    def _start_ranged_download(self, run: _Run) -> None:
        """Start (or resume from ``<name>.part`` and the journal) a download in ranged parts."""
        task = run.task
        part_size, run.verify = self._layout(run)
        run.part_size, run.hashed, run.whole = part_size, 0, hashlib.md5(usedforsecurity=False)
        self._make_folder(task.local.parent)
        temp = temp_path_for(task.local, resumable=True)
        run.journal = Journal.name("download", self.engine.endpoint, self.bucket, task.key, task.local)
        record = self.engine.journal.load(run.journal)
        identity = {"size": task.size, "etag": task.etag, "part_size": part_size}
        resumable = (
            self.settings.resume
            and record is not None
            and all(record.get(k) == v for k, v in identity.items())
            and temp.is_file()
            and temp.stat().st_size == task.size
        )
        if not resumable:
            if temp.exists() and record is None:
                raise ProvenaWidgetsError(
                    f"A file named {temp.name} is in the way of the download: move or rename it."
                )
            record = {
                "direction": "download",
                "key": task.key,
                "local": str(task.local),
                **identity,
                "parts": {},
            }
            with temp.open("wb") as handle:
                handle.truncate(task.size)
            if self.settings.resume:
                self.engine.journal.save(run.journal, record)
        assert record is not None
        run.temp, run.record = temp, record
        self._submit_parts(run, self._download_part, part_size, {int(n) for n in record.get("parts", {})})

    def _download_part(self, run: _Run, number: int, offset: int, length: int) -> None:
        assert run.temp is not None
        temp = run.temp

        def fetch(meter: _Meter) -> None:
            with temp.open("r+b") as handle:
                self._fetch_range(run, handle.fileno(), offset, length, meter)
            digest = _md5_of(temp, offset, length) if run.verify == "parts" else ""
            with run.lock:
                run.record.setdefault("parts", {})[str(number)] = digest
                if self.settings.resume and run.journal:
                    self.engine.journal.save(run.journal, run.record)

        self._attempts(run, fetch)
        if run.verify == "whole":
            self._hash_finished_prefix(run, wait=False)

    def _fetch_range(self, run: _Run, fd: int, offset: int, length: int, meter: _Meter) -> None:
        """Write one range of the object into the open temporary file, at its own offset."""
        crt = self.engine.crt
        if crt is not None:  # native code writes the bytes: the CPU is left for hashing
            headers = crt.get_range(run.task.key, fd, offset, length, run.task.etag, meter.add_quietly)
            run.remote_mtime = _mtime_from_headers(headers)
            return
        response = self._get(run, Range=f"bytes={offset}-{offset + length - 1}")
        written = 0
        for chunk in response["Body"].iter_chunks(self.settings.chunk_size):
            if written + len(chunk) > length:
                raise ProvenaWidgetsError(f"The server sent too much for {run.task.path}.")
            os.pwrite(fd, chunk, offset + written)
            written += len(chunk)
            meter.add(len(chunk))
        if written != length:
            raise IncompleteTransfer(f"A part of {run.task.path} arrived short; run the download again.")

    def _hash_finished_prefix(self, run: _Run, wait: bool) -> None:
        """Feed the whole-file MD5 with the parts finished so far, in order, so checking a single-part
        ETag costs no pass over the file after the download. One thread hashes at a time; one
        that finds the hasher busy leaves its part to it (``wait``: hash to the end now)."""
        assert run.temp is not None
        while run.hasher.acquire(blocking=wait):
            try:
                end = self._finished_prefix(run)
                if end > run.hashed:
                    _md5_of(run.temp, run.hashed, end - run.hashed, run.whole)
                    run.hashed = end
            finally:
                run.hasher.release()
            if self._finished_prefix(run) == run.hashed:
                return

    @staticmethod
    def _finished_prefix(run: _Run) -> int:
        """How many bytes from the start of the temporary file are complete."""
        with run.lock:
            done = run.record.get("parts", {})
            end = run.hashed
            while end < run.task.size and str(end // run.part_size + 1) in done:
                end = min(end + run.part_size, run.task.size)
            return end

    def _commit_download(self, run: _Run) -> None:
        """Verify the complete temporary file, then give it its final name and modification time."""
        assert run.temp is not None
        task = run.task
        if run.temp.stat().st_size != task.size:
            raise ProvenaWidgetsError(f"{task.path} is incomplete; run the download again.")
        if not self._matches_etag(run):
            run.journal_broken = True
            raise IntegrityError(
                f"{task.path} does not match the server's checksum after download, so it was not kept: "
                "run the download again."
            )
        if run.remote_mtime is not None:
            os.utime(run.temp, (run.remote_mtime, run.remote_mtime))
        os.replace(run.temp, task.local)
        run.temp = None
        if run.journal:
            self.engine.journal.delete(run.journal)
        self._finish(run, "transferred")

    def _matches_etag(self, run: _Run) -> bool:
        etag = (run.task.etag or "").strip('"').split("-")[0]
        if run.verify == "parts":
            digests = [run.record["parts"][key] for key in sorted(run.record["parts"], key=int)]
            combined = hashlib.md5(b"".join(bytes.fromhex(d) for d in digests), usedforsecurity=False)
            return combined.hexdigest() == etag
        if run.verify == "whole":
            self._hash_finished_prefix(run, wait=True)
            return run.hashed == run.task.size and run.whole.hexdigest() == etag
        return True

    # -- cleanup ----------------------------------------------------------------------------

    def _cleanup(self, run: _Run) -> None:
        """After a failure or cancel: keep what a resumable transfer finished, remove the rest."""
        keep = self.settings.resume and run.journal is not None and not run.journal_broken
        if run.temp is not None and not keep:
            run.temp.unlink(missing_ok=True)
        run.temp = None
        if run.upload_id is not None and not keep:
            self._abort(run.task.key, run.upload_id)
        run.upload_id = None
        if run.journal is not None and not keep:
            self.engine.journal.delete(run.journal)

    def _abort(self, key: str, upload_id: object) -> None:
        if not upload_id:
            return
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=str(upload_id))
        except Exception as exc:  # the upload is useless either way; say so, go on
            log.warning("Could not abort an unfinished upload of %s: %s", key, exc)
