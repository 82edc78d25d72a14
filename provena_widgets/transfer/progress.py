"""Progress events: counted by workers, delivered from one thread, at most ~10 per second."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TextIO

from ..errors import ProvenaWidgetsError
from ..units import format_bytes, format_duration, format_rate
from .report import Direction, FileResult

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 0.1  # seconds between events: the browser never sees more than ~10/s


@dataclass(frozen=True)
class FileProgress:
    """A file in flight."""

    path: str
    bytes_done: int
    size: int

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.size if self.size else 1.0


@dataclass(frozen=True)
class TransferProgress:
    """A snapshot of a running transfer, handed to the progress callback.

    ``finished`` holds the files that ended since the previous event; ``done`` marks the last
    event of the transfer. ``cancel()`` stops the transfer (from the callback or anywhere).
    """

    direction: Direction
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    elapsed: float
    rate: float
    active: tuple[FileProgress, ...] = ()
    finished: tuple[FileResult, ...] = ()
    done: bool = False
    _cancel: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, ``None`` while unknown."""
        if self.done:
            return 0.0
        if self.rate <= 0:
            return None
        return max(0.0, (self.bytes_total - self.bytes_done) / self.rate)

    @property
    def fraction(self) -> float:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return self.files_done / self.files_total if self.files_total else 1.0

    def cancel(self) -> None:
        self._cancel()

    def describe(self) -> str:
        """One line: files, bytes, rate and ETA."""
        eta = self.eta
        eta_text = "" if eta is None or self.done else f", ETA {format_duration(eta)}"
        return (
            f"{self.files_done}/{self.files_total} files, "
            f"{format_bytes(self.bytes_done)} of {format_bytes(self.bytes_total)}, "
            f"{format_rate(self.rate)}{eta_text}"
        )


class RateWindow:
    """Bytes per second over the last ``samples`` events, so rate and ETA follow the link as it is now."""

    def __init__(self, samples: int = 40) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=samples)

    def rate(self, now: float, nbytes: int) -> float:
        """Note ``nbytes`` done at ``now``; the rate since the oldest event kept."""
        self._samples.append((now, nbytes))
        first_time, first_bytes = self._samples[0]
        return (nbytes - first_bytes) / (now - first_time) if now > first_time else 0.0


ProgressCallback = Callable[[TransferProgress], None]
Progress = ProgressCallback | Literal["text"] | bool | None  # a ``progress=`` argument


def progress_callback(progress: Progress) -> ProgressCallback | None:
    """The callback a ``progress=`` argument asks for: ``"text"``/True a text line, None/False none."""
    if progress is None or progress is False:
        return None
    if progress == "text" or progress is True:
        return TextProgress()
    if callable(progress):
        return progress
    raise ProvenaWidgetsError(f"progress={progress!r} must be a callable, 'text' or None.")


class ProgressTracker:
    """Collects counts from worker threads and calls ``callback`` from its own single thread.

    Workers only add numbers under a lock; snapshots are built at most every ``interval`` s.
    """

    def __init__(
        self,
        direction: Direction,
        callback: ProgressCallback | None,
        files_total: int,
        bytes_total: int,
        cancel: Callable[[], None],
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._direction = direction
        self._callback = callback
        self._files_total = files_total
        self._bytes_total = bytes_total
        self._cancel = cancel
        self._interval = interval
        self._lock = threading.Lock()
        self._bytes_done = 0
        self._files_done = 0
        self._active: dict[int, list[int | str]] = {}  # id -> [path, bytes_done, size]
        self._finished: list[FileResult] = []
        self._changed = True
        self._started = time.monotonic()
        self._rate = RateWindow()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._callback_failed = False

    def start(self) -> None:
        if self._callback is None:
            return
        self._thread = threading.Thread(target=self._run, name="provena-progress", daemon=True)
        self._thread.start()

    def file_started(self, file_id: int, path: str, size: int) -> None:
        with self._lock:
            self._active[file_id] = [path, 0, size]
            self._changed = True

    def advance(self, file_id: int, nbytes: int) -> None:
        """Count bytes moved (negative to take back bytes of a retried attempt)."""
        with self._lock:
            self._bytes_done += nbytes
            entry = self._active.get(file_id)
            if entry is not None:
                entry[1] = int(entry[1]) + nbytes
            self._changed = True

    def file_finished(self, file_id: int, result: FileResult) -> None:
        """Record a file's end: its counted bytes are replaced by the bytes it really moved."""
        with self._lock:
            entry = self._active.pop(file_id, None)
            counted = int(entry[1]) if entry is not None else 0
            self._bytes_done += result.bytes - counted
            if result.status != "transferred":
                self._bytes_total -= result.size
            self._files_done += 1
            self._finished.append(result)
            self._changed = True

    def close(self) -> None:
        """Stop the thread and deliver the final event."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._emit(final=False)
        self._emit(final=True)

    def _emit(self, final: bool) -> None:
        with self._lock:
            if not (self._changed or final):
                return
            now = time.monotonic()
            rate = self._rate.rate(now, self._bytes_done)
            elapsed = now - self._started
            if final:
                rate = self._bytes_done / elapsed if elapsed > 0 else 0.0
            snapshot = TransferProgress(
                direction=self._direction,
                files_done=self._files_done,
                files_total=self._files_total,
                bytes_done=self._bytes_done,
                bytes_total=self._bytes_total,
                elapsed=elapsed,
                rate=rate,
                active=tuple(
                    FileProgress(str(path), int(done), int(size))
                    for path, done, size in self._active.values()
                ),
                finished=tuple(self._finished),
                done=final,
                _cancel=self._cancel,
            )
            self._finished = []
            self._changed = False
        assert self._callback is not None
        try:
            self._callback(snapshot)
        except Exception:
            if not self._callback_failed:
                log.exception("The progress callback failed; the transfer goes on without it.")
            self._callback_failed = True


class TextProgress:
    """A plain-text progress line for scripts and notebooks without widgets."""

    def __init__(self, stream: TextIO | None = None, every: float = 0.5) -> None:
        self._stream = stream
        self._every = every
        self._last = 0.0

    def __call__(self, event: TransferProgress) -> None:
        stream = self._stream or sys.stderr
        now = time.monotonic()
        if not event.done and now - self._last < self._every:
            return
        self._last = now
        line = f"{event.direction}: {event.describe()}"
        if event.done:
            stream.write(f"\r{line}\n")
        else:
            stream.write(f"\r{line}  ")
        stream.flush()
