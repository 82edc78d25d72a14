"""Cancelling a transfer: a token any thread can set, which requests in flight listen to."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable


class Cancelled(Exception):
    """Raised inside a worker when its transfer was cancelled."""


class CancelToken:
    """Set once to stop a transfer; safe to call from any thread. Requests in flight register a
    way to abandon themselves (``on_cancel``), so Cancel stops traffic at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._listeners: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            listeners, self._listeners = list(self._listeners.values()), {}
        for listener in listeners:
            listener()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the transfer was cancelled."""
        if self._event.is_set():
            raise Cancelled

    def on_cancel(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` on Cancel (at once if already cancelled); returns the function that
        forgets it, for when the request it would stop has ended."""
        with self._lock:
            if not self._event.is_set():
                key = next(self._ids)
                self._listeners[key] = listener
                return lambda: self._forget(key)
        listener()
        return lambda: None

    def _forget(self, key: int) -> None:
        with self._lock:
            self._listeners.pop(key, None)
