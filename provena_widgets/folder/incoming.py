"""Files from somewhere the kernel cannot read (the browser's computer), streamed into the dataset.

The sender offers the files (paths, sizes, times); :meth:`IncomingUpload.offer` answers, under the
overwrite rule, which to send and from which byte; the sender then ``write``\\ s each file's chunks
in order and ``finish``\\ es it. Acknowledgements (``on_ack``) hold back while the kernel holds more
than its memory budget, so a sender with a bounded window of unacknowledged chunks keeps the
kernel's memory bounded whatever the size: the budget grows to two parts where a huge file needs
larger parts (S3 allows 10,000). A path ending in ``/`` offers an empty folder (a folder marker). No
chunk for ``idle_timeout`` seconds (a closed tab, a lost connection) cancels, as Cancel does: no
partial object; finished parts are kept for a retry.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Literal

from ..errors import AlreadyExists, ProvenaWidgetsError
from ..location import METADATA_FILE
from ..transfer.plan import Conflict, Existing, FileTask, OverwriteMode, check_overwrite_mode, decide
from ..transfer.progress import Progress, ProgressTracker, progress_callback
from ..transfer.report import FileResult, Status, TransferReport
from ..transfer.settings import GiB, resolve_checksum
from ..transfer.streamed import Budget, KeptUploads, StreamedFile, Target
from ..units import format_bytes
from .conflicts import source_mtime
from .connection import Connection
from .listing import objects_under
from .offers import Decision, OfferedFile

Ask = Callable[[Conflict], OverwriteMode]
AckCallback = Callable[[str, int], None]
IDLE_TIMEOUT = 60.0  # seconds without a chunk before a sending browser counts as gone
MAX_OBJECT = 5 * 1024 * GiB  # S3's largest object (5 TiB)
PROTECTED = f"{METADATA_FILE} at the dataset root belongs to Provena: rename it, or upload it into a folder"


@dataclass
class _File:
    offered: OfferedFile
    task: FileTask
    decision: Decision
    index: int
    stream: StreamedFile | None = None
    started: float = 0.0
    acked: int = 0
    done: bool = False
    future: Future[str | None] | None = field(default=None, repr=False)


class IncomingUpload:
    """One batch of files from a sender into the dataset folder ``to`` (see the module's doc).

    ``overwrite``: as for uploads, plus ``"ask"`` (the decision says ``ask`` and the sender
    answers with :meth:`answer`). ``on_ack(file_id, bytes)`` is called, from any thread, when more
    of a file is safely taken; ``on_file(result)`` when a file ends; ``on_idle()`` after the
    sender went quiet and the upload was cancelled (nobody will call :meth:`close`: the callback may).
    """

    def __init__(
        self,
        connection: Connection,
        kept: KeptUploads,
        to: str = "",
        *,
        overwrite: OverwriteMode | Literal["ask"] | Ask = "skip",
        allow_metadata: bool = False,
        progress: Progress = "text",
        idle_timeout: float = IDLE_TIMEOUT,
        on_ack: AckCallback | None = None,
        on_file: Callable[[FileResult], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        connection.ensure_credentials()
        if overwrite != "ask":
            check_overwrite_mode(overwrite)
        self._connection, self._kept, self._overwrite = connection, kept, overwrite
        self._allow_metadata, self._progress = allow_metadata, progress_callback(progress)
        self._on_ack, self._on_file, self.idle_timeout = on_ack, on_file, idle_timeout
        self._on_idle = on_idle
        self.folder = connection.location.relative(connection.location.key(to, folder=True))
        settings = connection.settings
        self._checksum = resolve_checksum(settings.checksum)
        self.budget = Budget(max(3 * settings.part_size, settings.multipart_threshold + settings.part_size))
        self._pool = ThreadPoolExecutor(settings.part_workers, thread_name_prefix="provena-incoming")
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._files: dict[str, _File] = {}
        self._results: dict[str, FileResult] = {}
        self._held: set[str] = set()  # files whose acknowledgement waits for memory
        self._tracker: ProgressTracker | None = None
        self._started = time.monotonic()
        self._active = time.monotonic()
        self.cancelled = False
        self.reason = ""
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="provena-incoming-idle", daemon=True).start()

    # -- deciding --------------------------------------------------------------------------

    def offer(self, files: Iterable[OfferedFile | Mapping[str, Any]]) -> list[Decision]:
        """Decide, before any byte is sent, what to do with each file (one offer per upload)."""
        location = self._connection.location
        offered = [OfferedFile.of(item) for item in files]
        with self._lock:
            if self._tracker is not None:
                raise ProvenaWidgetsError("Files were already offered: start another upload.")
            for index, item in enumerate(offered):
                path = self.folder + item.path
                task = FileTask(Path(item.path), "", path, item.size, item.mtime, is_folder=item.folder)
                problem = _unsafe(item.path[:-1] if item.folder else item.path) or _too_big(item)
                if not problem:
                    try:
                        task.key = location.key(path, folder=item.folder)
                    except ProvenaWidgetsError as exc:  # e.g. a key longer than S3 allows
                        problem = str(exc)
                    if task.key == location.prefix + METADATA_FILE and not self._allow_metadata:
                        problem = PROTECTED
                if problem:
                    task.fail(problem)
                self._files[item.id] = _File(item, task, Decision(item.id, path, "send"), index)
            try:
                self._decide(self._existing())
            except BaseException:  # e.g. overwrite="error" and a file exists: nothing was offered
                self._files.clear()
                raise
            self._tracker = ProgressTracker(
                "upload", self._progress, len(offered), sum(item.size for item in offered),
                self.cancel, self._connection.settings.progress_interval,
            )  # fmt: skip
            self._tracker.start()
            for file in self._files.values():
                self._settle(file)
            self._active = time.monotonic()
            return [file.decision for file in self._files.values()]

    def answer(self, answers: Mapping[str, str]) -> list[Decision]:
        """The sender's answers (``overwrite`` or ``skip``) to decisions that said ``ask``."""
        with self._lock:
            for file_id, mode in answers.items():
                file = self._files[file_id]
                if file.decision.action == "ask":
                    if mode == "overwrite":
                        file.decision.action = "send"
                    else:
                        file.decision.action, file.decision.reason = "skip", "kept the existing file"
                    self._settle(file)
            self._active = time.monotonic()
            return [file.decision for file in self._files.values()]

    def _existing(self) -> dict[str, Existing]:
        """What the dataset holds at the files' keys (a folder: any object under it): one listing
        per top-level name."""
        keys = {file.task.key for file in self._files.values() if file.task.action == "transfer"}
        tops = {self.folder + file.offered.path.split("/", 1)[0] for file in self._files.values()}
        location = self._connection.location
        found: dict[str, Existing] = {}
        for top in sorted(tops):
            if _unsafe(top):
                continue
            for listed in objects_under(self._connection, location.key(top), top):
                parts = listed.key.split("/")
                folders = ("/".join(parts[:end]) + "/" for end in range(1, len(parts)))
                for key in (listed.key, *folders):
                    if key in keys:
                        found.setdefault(key, Existing.listed(listed))
        return found

    def _decide(self, existing: dict[str, Existing]) -> None:
        clashes = [f for f in self._files.values() if f.task.action == "transfer" and f.task.key in existing]
        for file in [file for file in clashes if file.task.is_folder]:
            file.task.skip("the folder exists")
            clashes.remove(file)
        if self._overwrite == "error" and clashes:
            names = ", ".join(file.task.path for file in clashes[:3])
            raise AlreadyExists(f"{names} already exist(s) at the destination; nothing was sent.")
        for file in clashes:
            found, task = existing[file.task.key], file.task
            conflict = Conflict(
                file.offered.path, task.path, task.size,
                None if task.mtime is None else datetime.fromtimestamp(task.mtime, timezone.utc),
                found.size, datetime.fromtimestamp(found.mtime, timezone.utc),
            )  # fmt: skip
            mode = self._overwrite(conflict) if callable(self._overwrite) else self._overwrite
            if mode == "ask":
                file.decision.action, file.decision.conflict = "ask", conflict
                continue
            check_overwrite_mode(mode)
            if mode == "error":
                raise AlreadyExists(f"{task.path} already exists at the destination.")
            decide(task, found, mode, lambda task=task: self._same_time(task))  # type: ignore[misc]

    def _same_time(self, task: FileTask) -> bool:
        """``different`` on a file the kernel cannot read before it is sent: same size and same
        modification time (as the object's ``mtime`` metadata keeps it) count as the same content."""
        stored = source_mtime(self._connection, FileTask(task.local, task.key, task.path, 0, None))
        return stored is not None and task.mtime is not None and abs(stored - task.mtime) < 1.0

    def _settle(self, file: _File) -> None:
        """Turn the task's plan into the decision (and the report's entry, when nothing is sent)."""
        task, decision = file.task, file.decision
        if task.action != "transfer":
            decision.action, decision.reason = ("skip" if task.action == "skip" else "fail"), task.reason
        if decision.action == "send":
            target = self._target(file)
            kept = self._kept.peek(target.identity) if target.multipart else None
            decision.offset = file.acked = kept.prefix(target.part_size) if kept else 0
        elif decision.action in ("skip", "fail"):
            self._end(file, "skipped" if decision.action == "skip" else "failed", decision.reason)

    def _target(self, file: _File) -> Target:
        settings, task = self._connection.settings, file.task
        part_size = settings.part_size_for(task.size)
        multipart = task.size >= settings.multipart_threshold
        return Target(task.key, task.size, task.mtime, multipart, part_size, self._checksum)

    # -- receiving -------------------------------------------------------------------------

    def write(self, file_id: str, offset: int, chunk: bytes | memoryview) -> int:
        """Take the chunk at ``offset`` (chunks come in order); returns the bytes acknowledged."""
        file = self._files[file_id]
        try:
            with self._lock:
                if file.done:
                    return file.acked
                if file.stream is None:
                    self._open(file)
                assert file.stream is not None
                file.stream.write(offset, chunk)
        except Exception as exc:
            self._fail(file, exc)  # outside the lock: it waits for the file's parts in flight
            return file.acked
        with self._lock:
            assert self._tracker is not None
            self._tracker.advance(file.index, len(chunk))
            self._active = time.monotonic()
            self._held.add(file_id)
            self._release()
            return file.acked

    def finish(self, file_id: str) -> None:
        """Every byte of the file was written: store it (the object appears only now)."""
        file = self._files[file_id]
        try:
            with self._lock:
                if file.done:
                    return
                if file.stream is None:  # an empty file, or every part already kept
                    self._open(file)
                assert file.stream is not None
                file.future = future = file.stream.finish()
                self._active = time.monotonic()
        except Exception as exc:
            self._fail(file, exc)
            return
        future.add_done_callback(lambda future: self._finished(file, future))

    def _open(self, file: _File) -> None:
        if file.decision.action != "send" or self.cancelled:
            raise ProvenaWidgetsError(f"{file.task.path} is not to be sent ({file.decision.action}).")
        file.started = time.monotonic()
        target = self._target(file)
        # A part must fit in the budget, with room for the next one to fill while it goes up.
        self.budget.limit = max(self.budget.limit, 2 * target.part_size)
        file.stream = StreamedFile(
            self._connection.client, self._connection.location.bucket, target,
            self._pool, self.budget, self._kept, self._release,
        )  # fmt: skip
        assert self._tracker is not None
        self._tracker.file_started(file.index, file.task.path, file.task.size)
        self._tracker.advance(file.index, file.stream.start)

    def _release(self) -> None:
        """Acknowledge what memory allows (called on every write, and when a part leaves memory)."""
        acks: list[tuple[str, int]] = []
        with self._lock:
            if self.budget.over:
                return
            for file_id in self._held:
                file = self._files[file_id]
                if file.stream is not None and file.acked != file.stream.received:
                    file.acked = file.stream.received
                    acks.append((file_id, file.acked))
            self._held.clear()
            self._active = time.monotonic()
            self._changed.notify_all()
        for file_id, received in acks:
            if self._on_ack is not None:
                self._on_ack(file_id, received)

    def _finished(self, file: _File, future: Future[str | None]) -> None:
        error = future.exception()
        if error is None:
            self._end(file, "transferred", checksum=future.result())
        else:
            self._fail(file, error)

    def _fail(self, file: _File, error: BaseException) -> None:
        """End a file that went wrong (never with the lock held: this waits for its parts)."""
        if file.stream is not None:
            file.stream.abandon()
        reason = str(self._connection.translate(error, "upload", file.task.path)) if not isinstance(
            error, (ValueError, ProvenaWidgetsError)) else str(error)  # fmt: skip
        self._end(file, "failed", reason)

    def _end(self, file: _File, status: Status, reason: str = "", checksum: str | None = None) -> None:
        with self._lock:
            if file.done:
                return
            file.done = True
            done = status == "transferred"
            result = FileResult(
                file.offered.path, file.task.path, file.task.size, status,
                file.task.size if done else 0, time.monotonic() - file.started if done else 0.0,
                reason, checksum,
            )  # fmt: skip
            self._results[file.offered.id] = result
            assert self._tracker is not None
            self._tracker.file_finished(file.index, result)
            self._changed.notify_all()
        if self._on_file is not None:
            self._on_file(result)

    # -- ending ----------------------------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop: nothing more is stored; finished parts of large files are kept for a retry."""
        with self._lock:
            if self.cancelled:
                return
            self.cancelled, self.reason = True, reason
            files = [file for file in self._files.values() if not file.done and file.future is None]
        for file in files:
            if file.stream is not None:
                file.stream.abandon()
            self._end(file, "cancelled", reason)

    def close(self, timeout: float | None = None) -> TransferReport:
        """Wait for the files sent to be stored; what was never sent counts as cancelled."""
        with self._lock:
            unsent = [file for file in self._files.values() if not file.done and file.future is None]
        for file in unsent:
            if file.stream is not None:
                file.stream.abandon()
            self._end(file, "cancelled", self.reason or "not sent")
        for file in list(self._files.values()):
            if file.future is not None:
                file.future.exception(timeout)
        self._closed.set()
        self._pool.shutdown(wait=True)
        if self._tracker is not None:
            self._tracker.close()
        files = [self._results[file_id] for file_id in self._files if file_id in self._results]
        return TransferReport("upload", files, time.monotonic() - self._started, self.cancelled)

    def _watch(self) -> None:
        """Cancel when a sender that owes chunks has sent nothing for ``idle_timeout`` seconds."""
        while not self._closed.wait(min(1.0, self.idle_timeout / 4)):
            with self._lock:
                if self._tracker is None:  # nothing offered yet
                    continue
                owed = any(f.decision.action == "send" and not f.done and f.future is None
                           for f in self._files.values())  # fmt: skip
                idle = time.monotonic() - self._active > self.idle_timeout
                waiting = any(f.decision.action == "ask" for f in self._files.values())
                if not owed or waiting or self._held or self.cancelled or not idle:
                    continue
            self.cancel(
                f"no data from the browser for {self.idle_timeout:g} s (tab closed or connection lost)"
            )
            if self._on_idle is not None:
                self._on_idle()
            return

    # -- for Python senders ----------------------------------------------------------------

    def send(self, file_id: str, source: BinaryIO, chunk_size: int = 1 << 20, window: int = 8) -> None:
        """Send a file as a browser does: chunks from its decision's offset, at most ``window``
        unacknowledged, then :meth:`finish`. For scripts, tests and benchmarks."""
        file = self._files[file_id]
        offset = file.decision.offset
        source.seek(offset)
        while offset < file.task.size:
            with self._lock:
                room = functools.partial(_room, file, offset, window * chunk_size)
                self._changed.wait_for(room)
            if file.done:
                return
            chunk = source.read(min(chunk_size, file.task.size - offset))
            self.write(file_id, offset, chunk)
            offset += len(chunk)
        self.finish(file_id)


def _room(file: _File, sent: int, window: int) -> bool:
    return file.done or sent - file.acked < window


def _too_big(item: OfferedFile) -> str:
    if item.folder and item.size:
        return "a folder holds no bytes"
    if item.size > MAX_OBJECT:
        return f"{format_bytes(item.size)} is more than S3 stores in one object ({format_bytes(MAX_OBJECT)})"
    return ""


def _unsafe(path: str) -> str:
    """Why a sender's relative path cannot be used, or ``""``."""
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") or "\\" in part for part in parts):
        return f"unsafe name: {path!r}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return f"unsafe name: {path!r}"
    return ""
