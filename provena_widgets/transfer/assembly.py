"""A large download assembled from ranged parts in ``<name>.part``: opened (or resumed from the
journal), checked once complete (the object's own CRC from the parts' CRCs, else its ETag from
MD5s), and kept or removed. The engine does this for a file it downloads in parts; the kernel for
a file whose parts batches on a cluster download."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, ProvenaWidgetsError
from .checksums import ObjectChecksum, md5_of
from .journal import Journal
from .scheduler import Engine, FileRun


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


def temp_path_for(destination: Path, resumable: bool) -> Path:
    """Where a download is written until complete: ``<name>.part`` for large (resumable) files,
    a hidden name for small ones."""
    if resumable:
        return destination.with_name(destination.name + ".part")
    return destination.with_name(f".{destination.name}.provena-tmp")


def open_part_file(engine: Engine, run: FileRun, assembly: Assembly) -> set[int]:
    """Open the run's ``<name>.part`` file at its full size, or resume it with its journal record;
    sets the run's temporary file, record and journal name. Returns the parts already there."""
    task = run.task
    temp = temp_path_for(task.local, resumable=True)
    run.journal_key = Journal.name("download", engine.endpoint, engine.bucket, task.key, task.local)
    record = engine.journal.load(run.journal_key)
    identity = {"size": task.size, "etag": task.etag, "part_size": assembly.part_size, "check": assembly.kind}
    resumable = (
        engine.settings.resume
        and record is not None
        and all(record.get(k) == v for k, v in identity.items())
        and temp.is_file()
        and temp.stat().st_size == task.size
    )
    if not resumable:
        if temp.exists() and record is None:
            raise ProvenaWidgetsError(
                f"A file named {temp.name} is in the way of the download: move or rename it."
            )
        record = {"direction": "download", "key": task.key, "local": str(task.local), **identity, "parts": {}}
        with temp.open("wb") as handle:
            handle.truncate(task.size)
        if engine.settings.resume:
            engine.journal.save(run.journal_key, record)
    assert record is not None
    run.temp, run.record, run.state = temp, record, assembly
    return {int(n) for n in record.get("parts", {})}


def check_part_file(run: FileRun) -> None:
    """Raise unless the complete ``.part`` file has the object's size and checksum; sets what it was
    checked against as the run's checksum."""
    assert run.temp is not None
    assembly: Assembly = run.state
    if run.temp.stat().st_size != run.task.size:
        raise ProvenaWidgetsError(f"{run.task.path} is incomplete; run the download again.")
    if not assembled_correctly(run, assembly):
        run.discard_record = True
        raise IntegrityError(
            f"{run.task.path} does not match the server's checksum after download, so it was not "
            "kept: run the download again."
        )
    run.checksum = assembly.kind


def close_part_file(engine: Engine, run: FileRun) -> None:
    """After a failure or Cancel: keep the ``.part`` file and its record for resuming, or remove both."""
    keep = engine.settings.resume and run.journal_key is not None and not run.discard_record
    if run.temp is not None and not keep:
        run.temp.unlink(missing_ok=True)
    run.temp = None
    if run.journal_key is not None and not keep:
        engine.journal.delete(run.journal_key)


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
