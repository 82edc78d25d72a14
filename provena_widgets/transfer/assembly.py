"""A large download assembled from ranged parts in ``<name>.part``, and how it is checked once
complete: the object's own CRC from the parts' CRCs, else its ETag from MD5s."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from .checksums import ObjectChecksum, md5_of
from .scheduler import FileRun


@dataclass
class Assembly:
    """A large download being assembled from ranged parts, and how it will be checked."""

    part_size: int
    checksum: ObjectChecksum | None = None  # checked from the CRCs of the parts
    etag_of_parts: bool = False  # a multipart ETag: checked from the MD5s of the parts
    etag_of_whole: bool = False  # an MD5 ETag: one MD5 pass following the parts in order
    md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    hashed: int = 0  # bytes from the start that ``md5`` has seen
    hashing: threading.Lock = field(default_factory=threading.Lock)

    @property
    def kind(self) -> str | None:
        """What the assembled file is checked against, as the report names it."""
        if self.checksum is not None:
            return self.checksum.algorithm
        return "MD5" if self.etag_of_parts or self.etag_of_whole else None


def assembled_correctly(run: FileRun, assembly: Assembly) -> bool:
    """Whether the complete ``.part`` file matches what the object says of itself."""
    parts = run.record.get("parts", {})
    ordered = [parts[key] for key in sorted(parts, key=int)]
    if assembly.checksum is not None:
        size, step = run.task.size, assembly.part_size
        lengths = [min(step, size - offset) for offset in range(0, size, step)]
        return assembly.checksum.matches([(int(crc), n) for crc, n in zip(ordered, lengths, strict=False)])
    etag = (run.task.etag or "").strip('"').split("-")[0]
    if assembly.etag_of_parts:
        combined = hashlib.md5(b"".join(bytes.fromhex(d) for d in ordered), usedforsecurity=False)
        return combined.hexdigest() == etag
    if assembly.etag_of_whole:
        hash_finished_prefix(run, assembly, wait=True)
        return assembly.hashed == run.task.size and assembly.md5.hexdigest() == etag
    return True


def hash_finished_prefix(run: FileRun, assembly: Assembly, wait: bool) -> None:
    """Feed the whole-file MD5 with the parts finished so far, in order, so checking a single-part
    ETag costs no pass over the file after the download. One thread hashes at a time; one
    that finds the hasher busy leaves its part to it (``wait``: hash to the end now)."""
    assert run.temp is not None
    while assembly.hashing.acquire(blocking=wait):
        try:
            end = _finished_prefix(run, assembly)
            if end > assembly.hashed:
                md5_of(run.temp, assembly.hashed, end - assembly.hashed, assembly.md5)
                assembly.hashed = end
        finally:
            assembly.hashing.release()
        if _finished_prefix(run, assembly) == assembly.hashed:
            return


def _finished_prefix(run: FileRun, assembly: Assembly) -> int:
    """How many bytes from the start of the temporary file are complete."""
    with run.lock:
        done = run.record.get("parts", {})
        end = assembly.hashed
        while end < run.task.size and str(end // assembly.part_size + 1) in done:
            end = min(end + assembly.part_size, run.task.size)
        return end
