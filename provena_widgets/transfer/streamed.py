"""A file that arrives as ordered chunks (from a browser) and goes straight into S3: one PutObject for
a small file, else a multipart upload whose parts are assembled from the chunks in memory. Memory is
a :class:`Budget` shared by the files of one upload; finished parts of an unfinished upload stay in
:class:`KeptUploads` (in memory, while the kernel runs) so a retry sends only the missing parts."""

from __future__ import annotations

import io
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..s3objects import MTIME_METADATA

log = logging.getLogger(__name__)

Identity = tuple[str, int, float | None, int]  # key, size, mtime, part size


@dataclass
class KeptUpload:
    """An unfinished multipart upload and the parts it holds (number -> CompleteMultipartUpload entry)."""

    upload_id: str
    checksum: str | None
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)

    def prefix(self, part_size: int) -> int:
        """Bytes from the file's start that the kept parts cover without a gap."""
        number = 1
        while number in self.parts:
            number += 1
        return (number - 1) * part_size


class KeptUploads:
    """Unfinished uploads by what they upload, until a retry finishes them, or the kernel exits or
    forgets them (which aborts them: nobody could resume them after that)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client, self._bucket = client, bucket
        self._lock = threading.Lock()
        self._uploads: dict[Identity, KeptUpload] = {}
        weakref.finalize(self, _abort_all, client, bucket, self._uploads)  # also at exit

    def peek(self, identity: Identity) -> KeptUpload | None:
        with self._lock:
            return self._uploads.get(identity)

    def take(self, identity: Identity) -> KeptUpload | None:
        with self._lock:
            return self._uploads.pop(identity, None)

    def keep(self, identity: Identity, upload: KeptUpload) -> None:
        with self._lock:
            self._uploads[identity] = upload

    def discard(self) -> None:
        """Abort every kept upload now (their parts stop costing storage)."""
        with self._lock:
            uploads = dict(self._uploads)
            self._uploads.clear()
        _abort_all(self._client, self._bucket, uploads)


def _abort_all(client: Any, bucket: str, uploads: dict[Identity, KeptUpload]) -> None:
    for (key, *_), upload in list(uploads.items()):
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload.upload_id)
        except Exception as exc:  # the upload is useless either way; say so, go on
            log.warning("Could not abort an unfinished upload of %s: %s", key, exc)
    uploads.clear()


class Budget:
    """Bytes of file data the kernel holds at once; over ``limit``, acknowledgements wait."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self._lock = threading.Lock()

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.held += nbytes
            self.peak = max(self.peak, self.held)

    def release(self, nbytes: int) -> None:
        with self._lock:
            self.held -= nbytes

    @property
    def over(self) -> bool:
        return self.held > self.limit


@dataclass(frozen=True)
class Target:
    """Where a streamed file goes and how: its key, size, mtime and the multipart settings."""

    key: str
    size: int
    mtime: float | None
    multipart: bool
    part_size: int
    checksum: str | None

    @property
    def identity(self) -> Identity:
        return (self.key, self.size, self.mtime, self.part_size)

    @property
    def metadata(self) -> dict[str, str]:
        return {MTIME_METADATA: f"{self.mtime:.3f}"} if self.mtime is not None else {}


class StreamedFile:
    """One file being received: ``write`` chunks in order from ``start``, then ``finish``.

    Parts go up on ``pool`` as they fill; ``done`` calls back from a pool thread when a part's
    bytes leave memory. ``finish`` returns the future of the stored object's checksum."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        target: Target,
        pool: ThreadPoolExecutor,
        budget: Budget,
        kept: KeptUploads,
        released: Callable[[], None],
    ) -> None:
        self.client, self.bucket, self.target = client, bucket, target
        self._pool, self._budget, self._kept, self._released = pool, budget, kept, released
        self._buffer: bytearray | None = None  # the part (or whole small file) being filled
        self._filled = 0
        self._futures: list[Future[None]] = []
        self.upload: KeptUpload | None = None
        if target.multipart:
            self.upload = kept.take(target.identity) or self._create()
        self.start = self.upload.prefix(target.part_size) if self.upload else 0
        self.received = self.start

    def _create(self) -> KeptUpload:
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.target.key, Metadata=self.target.metadata,
            **_checksum_argument(self.target.checksum),
        )  # fmt: skip
        return KeptUpload(response["UploadId"], self.target.checksum)

    def write(self, offset: int, chunk: bytes | memoryview) -> None:
        if offset != self.received:
            raise ValueError(f"a chunk at byte {offset} came where byte {self.received} was due")
        data = memoryview(chunk).cast("B")
        if self.received + len(data) > self.target.size:
            raise ValueError(f"more bytes came than the {self.target.size} the file was said to hold")
        while data:
            buffer = self._buffer if self._buffer is not None else self._allocate()
            taken = min(len(data), len(buffer) - self._filled)
            buffer[self._filled : self._filled + taken] = data[:taken]
            self._filled += taken
            self.received += taken
            data = data[taken:]
            if self.upload is not None and self._filled == len(buffer):
                self._send_part()

    def _allocate(self) -> bytearray:
        """The buffer for the part that starts at ``received`` (or for the whole small file)."""
        end = self.target.size
        if self.upload is not None:
            end = min(end, self.received + self.target.part_size)
        self._buffer, self._filled = bytearray(end - self.received), 0
        self._budget.add(len(self._buffer))
        return self._buffer

    def finish(self) -> Future[str | None]:
        if self.received != self.target.size:
            raise ValueError(f"{self.received} of {self.target.size} bytes came")
        if self.upload is None:
            body = self._buffer if self._buffer is not None else self._allocate()
            self._buffer = None
            return self._pool.submit(self._put, body)
        return self._pool.submit(self._complete)

    def abandon(self) -> None:
        """Stop: drop what is buffered; once parts in flight end, keep the finished ones for a retry."""
        if self._buffer is not None:
            self._budget.release(len(self._buffer))
            self._buffer = None
            self._released()
        if self.upload is not None:
            for future in self._futures:
                future.exception()  # wait: a part in flight may still finish and be kept
            self._kept.keep(self.target.identity, self.upload)

    def _send_part(self) -> None:
        body, self._buffer = self._buffer, None
        assert body is not None
        number = (self.received - len(body)) // self.target.part_size + 1
        self._futures.append(self._pool.submit(self._part, number, body))

    def _part(self, number: int, body: bytearray) -> None:
        upload = self.upload
        assert upload is not None
        try:
            if number not in upload.parts:  # a retry sends again what it had: keep the first copy
                response = self.client.upload_part(
                    Bucket=self.bucket, Key=self.target.key, UploadId=upload.upload_id, PartNumber=number,
                    Body=BufferBody(body), ContentLength=len(body), **_checksum_argument(upload.checksum),
                )  # fmt: skip
                part = {"PartNumber": number, "ETag": response["ETag"]}
                part.update(
                    {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"}
                )
                upload.parts[number] = part
        finally:
            self._budget.release(len(body))
            self._released()

    def _complete(self) -> str | None:
        upload = self.upload
        assert upload is not None
        for future in self._futures:
            future.result()
        parts = [upload.parts[number] for number in sorted(upload.parts)]
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.target.key, UploadId=upload.upload_id,
            MultipartUpload={"Parts": parts},
        )  # fmt: skip
        return upload.checksum

    def _put(self, body: bytearray) -> str | None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.target.key, Body=BufferBody(body), ContentLength=len(body),
                Metadata=self.target.metadata, **_checksum_argument(self.target.checksum),
            )  # fmt: skip
            return self.target.checksum
        finally:
            self._budget.release(len(body))
            self._released()


class BufferBody(io.RawIOBase):
    """A request body read straight from a buffer (botocore copies a bytearray given as is)."""

    def __init__(self, buffer: bytearray) -> None:
        self._view = memoryview(buffer)
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._view)}[whence]
        self._at = min(max(0, base + offset), len(self._view))
        return self._at

    def readinto(self, out: Any) -> int:
        taken = min(len(out), len(self._view) - self._at)
        out[:taken] = self._view[self._at : self._at + taken]
        self._at += taken
        return taken


def _checksum_argument(algorithm: str | None) -> dict[str, str]:
    return {"ChecksumAlgorithm": algorithm} if algorithm else {}
