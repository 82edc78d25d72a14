"""Writing a GET's body into place as it arrives, and checking it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..errors import IncompleteTransfer
from .checksums import ObjectChecksum


class BodyWriter:
    """Writes a GET's body where it belongs in an open file as it arrives, on a CRT thread, in
    order; with ``checked``, computes the CRC of a full-object checksum the answer carries."""

    def __init__(
        self,
        fd: int,
        start: int,
        length: int,
        touch: Callable[[], None],
        headers: dict[str, str],
        on_progress: Callable[[int], None],
        on_chunk: Callable[[memoryview], None] | None = None,
        origin: int = 0,
        checked: bool = False,
    ) -> None:
        """``touch`` notes that the request is alive; ``headers`` fill in as the answer's arrive;
        ``origin``: the offset the CRT gives the first byte (a ranged GET counts from the start
        of the object)."""
        self._fd, self._start, self._length, self._origin = fd, start, length, origin
        self._touch, self._headers = touch, headers
        self._on_progress, self._on_chunk = on_progress, on_chunk
        self._checked = checked
        self.written = 0
        self.excess = 0  # bytes the server sent past what was asked
        self.local_error: OSError | None = None  # e.g. a full disk: raised as itself
        self.checksum: ObjectChecksum | None = None
        self.crc = 0
        self._first = True

    def on_body(self, chunk: Any, offset: int, **_: Any) -> None:
        self._touch()
        if self._first:
            self._first = False
            self.checksum = self._full_object_checksum()
        at = offset - self._origin
        fits = max(0, min(len(chunk), self._length - at))
        data = view = memoryview(chunk)[:fits]
        try:
            while view:
                view = view[os.pwrite(self._fd, view, self._start + at + fits - len(view)) :]
        except OSError as exc:
            self.local_error = exc
            raise
        self.written += fits
        self.excess += len(chunk) - fits
        if self.checksum is not None:
            self.crc = self.checksum.update(data, self.crc)
        if self._on_chunk is not None:
            self._on_chunk(data)
        self._on_progress(fits)

    def _full_object_checksum(self) -> ObjectChecksum | None:
        if not self._checked:
            return None
        found = ObjectChecksum.of_headers(self._headers)
        return found if found is not None and not found.parts else None

    def close(self) -> None:
        os.close(self._fd)

    def verify(self, key: str) -> str | None:
        """Raise unless exactly the asked bytes arrived and match the checksum; the checksum's name."""
        if self.local_error is not None:
            raise self.local_error
        if self._first:  # an empty body: nothing was written, still something to check
            self.checksum = self._full_object_checksum()
        if self.written != self._length or self.excess:
            raise IncompleteTransfer(
                f"{key} sent {self.written + self.excess} bytes for {self._length}; run the download again."
            )
        if self.checksum is None:
            return None
        if not self.checksum.matches([(self.crc, self.written)]):
            mismatch = {"Code": "BadDigest", "Message": f"{self.checksum.algorithm} mismatch"}
            raise ClientError({"Error": mismatch}, "GetObject")
        return self.checksum.algorithm
