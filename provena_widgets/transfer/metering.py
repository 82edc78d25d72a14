"""Counting a file's bytes into the progress tracker as they move, and stopping them on Cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cancel import CancelToken
from .progress import ProgressTracker


class Meter:
    """Counts one attempt's bytes into the tracker, so a failed attempt can take them back."""

    def __init__(self, tracker: ProgressTracker, file_id: int, cancel: CancelToken) -> None:
        self._tracker = tracker
        self._file_id = file_id
        self.cancel = cancel
        self.count = 0

    def add(self, nbytes: int) -> None:
        """Count bytes that moved; raises :class:`Cancelled` once the transfer is cancelled."""
        self.cancel.check()
        self.add_quietly(nbytes)

    def add_quietly(self, nbytes: int) -> None:
        """Count bytes from a native callback thread, where raising would go nowhere."""
        if nbytes:
            self.count += nbytes
            self._tracker.advance(self._file_id, nbytes)

    def rollback(self) -> None:
        if self.count:
            self._tracker.advance(self._file_id, -self.count)
            self.count = 0


class FileSlice:
    """A read-only, seekable window on a file, sent as a request body by botocore.

    botocore reads a body more than once (to compute its checksum, to sign it over plain HTTP)
    before it sends it. Bytes count as moved only once sending has begun (:meth:`sending`,
    called just before the request goes out), and each byte once; every read checks for Cancel,
    so a part in flight stops mid-body and its connection is dropped."""

    def __init__(self, path: Path, offset: int, length: int, meter: Meter) -> None:
        self._handle = path.open("rb")
        self._offset = offset
        self._length = length
        self._meter = meter
        self._pos = 0
        self._counted = 0
        self._sending = False
        self._handle.seek(offset)

    def __len__(self) -> int:
        return self._length

    def sending(self) -> None:
        """The request is about to be sent: from now on reads are bytes going out."""
        self._sending = True

    def read(self, size: int | None = -1) -> bytes:
        self._meter.cancel.check()
        left = self._length - self._pos
        if size is None or size < 0 or size > left:
            size = left
        data = self._handle.read(size)
        self._pos += len(data)
        if self._sending and self._pos > self._counted:
            self._meter.add(self._pos - self._counted)
            self._counted = self._pos
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

    def __enter__(self) -> FileSlice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def meter_bodies_when_sent(client: Any) -> None:
    """Make ``client`` tell each :class:`FileSlice` body when its request is being sent."""

    def before_send(request: Any, **_: Any) -> None:
        if isinstance(request.body, FileSlice):
            request.body.sending()

    client.meta.events.register("before-send.s3", before_send, unique_id="provena-widgets-meter-on-send")
