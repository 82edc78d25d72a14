"""A transfer running in the background, for callers that must not block (widgets, notebooks)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ProvenaWidgetsError
from .engine import CancelToken
from .report import TransferReport


class Transfer:
    """Runs ``work`` on a daemon thread; ``cancel()`` stops it, ``wait()`` returns its report."""

    def __init__(self, work: Callable[[CancelToken], TransferReport], name: str = "transfer") -> None:
        self._work = work
        self._token = CancelToken()
        self._finished = threading.Event()
        self._callbacks: list[Callable[[Transfer], None]] = []
        self._lock = threading.Lock()
        self._completed = False
        self.report: TransferReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"provena-{name}", daemon=True)

    def start(self) -> Transfer:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.report = self._work(self._token)
        except BaseException as exc:
            self.error = exc
            if isinstance(exc, ProvenaWidgetsError) and exc.report is not None:
                self.report = exc.report
        finally:
            with self._lock:
                self._completed = True
                callbacks = list(self._callbacks)
            try:
                for callback in callbacks:  # before waiters wake, so they see what callbacks did
                    callback(self)
            finally:
                self._finished.set()

    def cancel(self) -> None:
        self._token.cancel()

    @property
    def cancelled(self) -> bool:
        return self._token.cancelled

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> TransferReport:
        """Block until finished; return the report or raise the transfer's error."""
        if not self._finished.wait(timeout):
            raise TimeoutError("The transfer is still running.")
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report

    result = wait

    def add_done_callback(self, callback: Callable[[Transfer], None]) -> None:
        """Call ``callback(self)`` when finished (at once, if it already is)."""
        with self._lock:
            if not self._completed:
                self._callbacks.append(callback)
                return
        callback(self)
