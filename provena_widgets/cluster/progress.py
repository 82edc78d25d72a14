"""Progress across workers: each batch sends cumulative counts; the kernel adds them up into the
same ``TransferProgress`` events a transfer in one kernel gives, at the same bounded rate."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..transfer.progress import DEFAULT_INTERVAL, FileProgress, ProgressCallback, RateWindow, TransferProgress
from ..transfer.report import FileResult, TransferReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchProgress:
    """One batch's counts so far (its engine's event, earlier work added), as one run of it
    (``attempt``) on a worker saw them."""

    index: int
    attempt: str
    event: TransferProgress


class Aggregate:
    """Adds up the batches' latest counts. Counts never go back: a batch run again after its worker
    was lost starts from zero, so each batch counts with the most any run of it reached."""

    def __init__(
        self,
        first: TransferProgress,
        callback: ProgressCallback | None,
        batch_bytes: list[int],
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        """``first``: the event before anything moved (direction, files to move, Cancel)."""
        self._first = first
        self._callback = callback
        self._totals = list(batch_bytes)
        self._interval = interval
        self._files = [0] * len(batch_bytes)
        self._bytes = [0] * len(batch_bytes)
        self._active: dict[int, tuple[FileProgress, ...]] = {}
        self._delivered: set[str] = set()  # destinations already handed over as finished
        self._finished: list[FileResult] = []
        self._shown = (0, 0)  # files and bytes of the last event
        self._started = time.monotonic()
        self._last = float("-inf")
        self._changed = True
        self._rate = RateWindow()

    def absorb(self, messages: Iterable[BatchProgress]) -> None:
        for message in messages:
            index, event = message.index, message.event
            self._files[index] = max(self._files[index], event.files_done)
            self._bytes[index] = max(self._bytes[index], event.bytes_done)
            self._totals[index] = event.bytes_total
            self._active[index] = event.active
            self._keep_finished(event.finished)
            self._changed = True

    def _keep_finished(self, results: Iterable[FileResult]) -> None:
        for result in results:
            if result.destination not in self._delivered:
                self._delivered.add(result.destination)
                self._finished.append(result)

    def emit(self) -> None:
        """Call back with the sum, if anything changed and the interval has passed."""
        now = time.monotonic()
        if self._callback is None or not self._changed or now - self._last < self._interval:
            return
        files, nbytes = self._monotonic(sum(self._files), sum(self._bytes))
        rate = self._rate.rate(now, nbytes)
        active = tuple(one for batch in self._active.values() for one in batch)
        self._deliver(files, nbytes, max(nbytes, sum(self._totals)), rate, active, done=False)

    def finish(self, report: TransferReport) -> None:
        """The last event, from the merged report: every file counted, nothing in flight."""
        if self._callback is None:
            return
        self._keep_finished(report.files)
        files, nbytes = self._monotonic(len(report.files), report.bytes_transferred)
        elapsed = time.monotonic() - self._started
        total = max(nbytes, sum(result.size for result in report.transferred))
        self._deliver(files, nbytes, total, nbytes / elapsed if elapsed > 0 else 0.0, (), done=True)

    def _monotonic(self, files: int, nbytes: int) -> tuple[int, int]:
        self._shown = (max(self._shown[0], files), max(self._shown[1], nbytes))
        return self._shown

    def _deliver(
        self, files: int, nbytes: int, total: int, rate: float, active: tuple[FileProgress, ...], done: bool
    ) -> None:
        assert self._callback is not None
        self._last, self._changed = time.monotonic(), False
        finished, self._finished = tuple(self._finished), []
        elapsed = time.monotonic() - self._started
        event = dataclasses.replace(
            self._first, files_done=files, bytes_done=nbytes, bytes_total=total,
            elapsed=elapsed, rate=rate, active=active, finished=finished, done=done,
        )  # fmt: skip
        try:
            self._callback(event)
        except Exception:
            log.exception("The progress callback failed; the transfer goes on without it.")
            self._callback = None
