"""Dataset files streamed out through the kernel in chunks (to a browser that cannot reach S3):
one file as it is, or files and folders as one .zip (stored) written in constant memory."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..errors import NotFound
from ..location import split_relative
from .connection import Connection
from .listing import objects_under

EARLIEST = (1980, 1, 1, 0, 0, 0)  # a .zip cannot hold an earlier time
Emit = Callable[[bytes], None]  # takes one chunk; may block until the receiver has room


@dataclass(frozen=True)
class Outgoing:
    """A dataset file to send: its key, its name inside a .zip, its size and time."""

    key: str
    name: str
    size: int
    date_time: tuple[int, int, int, int, int, int]


def outgoing_files(connection: Connection, paths: Iterable[str]) -> list[Outgoing]:
    """The files ``paths`` name (folders recursively), each named by its path from the named item."""
    location = connection.location
    found: list[Outgoing] = []
    for path in paths:
        key = location.key(path)
        base = key.rstrip("/")
        top = base.rsplit("/", 1)[-1] if base + "/" != location.prefix else location.name
        named = False
        for listed in objects_under(connection, base, path):
            if listed.key != base and not listed.key.startswith(base + "/"):
                continue  # a neighbour that only shares the prefix
            named = True
            rest = listed.key[len(base) + 1 :]
            if listed.key.endswith("/") or not location.contains(listed.key) or _unsafe(rest):
                continue
            when = listed.modified.timetuple() if listed.modified else None
            stamp = max(when[:6] if when else EARLIEST, EARLIEST)
            found.append(Outgoing(listed.key, f"{top}/{rest}" if rest else top, listed.size, stamp))
        if not named:
            raise NotFound(f"{path!r} does not exist in the dataset.")
    return found


def send_out(connection: Connection, items: list[Outgoing], emit: Emit, chunk_size: int, as_zip: bool) -> int:
    """Emit one file's bytes, or one .zip of ``items`` (stored, zip64), in chunks; returns the size."""
    sink = ChunkSink(emit, chunk_size)
    if not as_zip:
        for chunk in _chunks(connection, items[0], chunk_size):
            sink.write(chunk)
        sink.flush_all()
        return sink.total
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for item in items:
            info = zipfile.ZipInfo(item.name, item.date_time)
            info.file_size = item.size
            with archive.open(info, "w", force_zip64=True) as member:
                for chunk in _chunks(connection, item, chunk_size):
                    member.write(chunk)
    sink.flush_all()
    return sink.total


class ChunkSink(io.RawIOBase):
    """A write-only, unseekable stream that hands on what it gets in chunks of ``chunk_size``."""

    def __init__(self, emit: Emit, chunk_size: int) -> None:
        self._emit, self._chunk_size = emit, chunk_size
        self._buffer = bytearray()
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        while len(self._buffer) >= self._chunk_size:
            self._send(self._chunk_size)
        return len(data)

    def flush_all(self) -> None:
        if self._buffer:
            self._send(len(self._buffer))

    def _send(self, length: int) -> None:
        chunk = bytes(self._buffer[:length])
        del self._buffer[:length]
        self.total += len(chunk)
        self._emit(chunk)


def _chunks(connection: Connection, item: Outgoing, chunk_size: int) -> Iterator[bytes]:
    response = connection.call("download", connection.location.relative(item.key), "get_object", Key=item.key)
    try:
        yield from response["Body"].iter_chunks(chunk_size)
    finally:
        response["Body"].close()


def _unsafe(rest: str) -> bool:
    try:
        return bool(rest) and split_relative(rest) != rest.split("/")
    except Exception:
        return True
