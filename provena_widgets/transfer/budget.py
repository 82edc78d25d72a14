"""How many bytes of bodies the native request path may hold in flight at once."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .settings import MiB

WARM_UP = 0.25  # seconds of finished requests that show a link's pace


class ByteBudget:
    """Bytes of request bodies in flight, bounded so memory does not grow with file sizes or
    concurrency. One request larger than the whole budget may still go, alone.

    Within that, the bound follows the link's pace (bytes finished over the last ``window``
    seconds): about ``horizon`` seconds of it, never below ``floor``. More in flight is no faster,
    and Cancel waits for what the CRT already has on the wire (it finishes requests it started)."""

    def __init__(
        self,
        limit: int,
        floor: int = 4 * MiB,
        horizon: float = 0.5,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._clock = clock
        self._floor = min(floor, limit)
        self._horizon = horizon
        self._window = window
        self._used = 0
        self._finished: deque[tuple[float, int]] = deque()  # (when, bytes) of requests that ended
        self._since = clock()
        self._changed = threading.Condition()

    def _bound(self) -> int:
        """The bytes that may be in flight now (call with the lock held): ``floor`` until a
        quarter of a second has shown the pace, then ``horizon`` seconds of it."""
        now = self._clock()
        while self._finished and self._finished[0][0] < now - self._window:
            self._finished.popleft()
        seen = min(self._window, now - self._since)
        if seen < WARM_UP:
            return self._floor
        pace = sum(nbytes for _, nbytes in self._finished) / seen
        return max(self._floor, min(self._limit, int(pace * self._horizon)))

    def hold(self, nbytes: int) -> Callable[[], None]:
        """Wait until ``nbytes`` fit; returns the function that gives them back (call it once)."""
        nbytes = min(nbytes, self._limit)
        with self._changed:
            self._changed.wait_for(lambda: self._used + nbytes <= max(self._bound(), nbytes))
            self._used += nbytes
        returned = threading.Event()

        def give_back() -> None:
            if not returned.is_set():
                returned.set()
                with self._changed:
                    self._used -= nbytes
                    self._finished.append((self._clock(), nbytes))
                    self._changed.notify_all()

        return give_back
