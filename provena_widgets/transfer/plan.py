"""What a transfer will do for each file, decided before any byte moves."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import ProvenaWidgetsError
from ..s3objects import ListedObject
from .checksums import ObjectChecksum
from .report import Direction

OverwriteMode = Literal["skip", "overwrite", "newer", "different", "error"]
OVERWRITE_MODES: tuple[OverwriteMode, ...] = ("skip", "overwrite", "newer", "different", "error")
Action = Literal["transfer", "skip", "fail"]

MTIME_TOLERANCE = 1.0  # seconds: file systems and S3 round times differently
Run = TypeVar("Run")


@dataclass(frozen=True)
class PartSpan:
    """Consecutive parts of one large file that one batch of a transfer on a cluster moves. The
    kernel opened the transfer (a multipart upload, a ``.part`` file) and finishes and checks it."""

    first: int  # the first part's number
    offset: int  # where the first part starts in the file
    part_size: int
    upload_id: str = ""  # uploads: the multipart upload
    algorithm: str | None = None  # uploads: its checksum algorithm
    check: ObjectChecksum | None = None  # downloads: the object's checksum, checked from the parts' CRCs
    md5s: bool = False  # downloads: a multipart ETag, checked from the parts' MD5s
    skip: frozenset[int] = frozenset()  # parts a resume record says arrived already
    done: dict[str, Any] = field(default_factory=dict, compare=False)  # what each part sent gave, by number

    def skipped(self) -> set[int]:
        """The parts to skip, numbered from the span's start as the engine counts them."""
        return {number - self.first + 1 for number in self.skip}

    def shifted(self, work: Callable[[Run, int, int, int], None]) -> Callable[[Run, int, int, int], None]:
        """``work`` on the span's parts as the engine counts them: numbered and placed in the file."""
        return lambda run, number, offset, length: work(
            run, number + self.first - 1, offset + self.offset, length
        )


@dataclass
class FileTask:
    """One file (or empty folder marker) to move.

    ``local`` is the source for uploads and the final destination for downloads; ``key`` is the
    full S3 key and ``path`` the dataset-relative path shown to people. A server-side copy or move
    names its source object in ``source_key`` and ``source_path`` (and ``local`` is unused).
    """

    local: Path
    key: str
    path: str
    size: int
    mtime: float | None = None  # the source's modification time, seconds since the epoch
    etag: str | None = None  # the remote object's ETag (downloads: guards against changes)
    action: Action = "transfer"
    reason: str = ""
    is_folder: bool = False
    source_key: str = ""
    source_path: str = ""
    span: PartSpan | None = None  # only these parts of the file (then ``size`` is theirs)

    def ends(self, direction: Direction) -> tuple[str, str]:
        """The report's source and destination of this file moved in ``direction``."""
        if direction == "upload":
            return str(self.local), self.path
        if direction == "download":
            return self.path, str(self.local)
        return self.source_path, self.path

    def skip(self, reason: str) -> None:
        self.action, self.reason = "skip", reason

    def fail(self, reason: str) -> None:
        self.action, self.reason = "fail", reason


@dataclass(frozen=True)
class Existing:
    """What is already at the destination."""

    size: int
    mtime: float
    etag: str | None = None

    @classmethod
    def listed(cls, found: ListedObject) -> Existing:
        """An object at the destination, as its listing row describes it."""
        return cls(found.size, found.mtime or 0.0, found.etag)


@dataclass(frozen=True)
class Conflict:
    """A destination that exists, handed to an ``overwrite`` callable to decide."""

    source: str
    destination: str
    source_size: int
    source_modified: datetime | None
    existing_size: int
    existing_modified: datetime


OverwritePolicy = OverwriteMode | Callable[[Conflict], OverwriteMode]


def check_overwrite_mode(mode: object) -> None:
    if not callable(mode) and mode not in OVERWRITE_MODES:
        raise ProvenaWidgetsError(f"overwrite={mode!r} is not one of: {', '.join(OVERWRITE_MODES)}.")


def decide(
    task: FileTask,
    existing: Existing | None,
    mode: OverwriteMode,
    same_content: Callable[[], bool],
) -> None:
    """Mark ``task`` as transfer or skip under ``mode``; ``"error"`` is handled by the caller."""
    if existing is None or mode == "overwrite":
        return
    source_mtime = task.mtime if task.mtime is not None else float("inf")
    newer = source_mtime > existing.mtime + MTIME_TOLERANCE
    same_size = task.size == existing.size
    if mode == "skip":
        if same_size and not newer:
            task.skip("already there (same size, not newer)")
    elif mode == "newer":
        if not newer:
            task.skip("destination is as new or newer")
    elif mode == "different" and same_size and same_content():
        task.skip("same content already there")


def md5_etag(path: Path, part_size: int | None = None) -> str:
    """The ETag S3 gives ``path``: its MD5, or for multipart the MD5 of part MD5s plus ``-N``."""
    digests: list[bytes] = []
    whole = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while True:
            block = handle.read(part_size or 8 * 1024 * 1024)
            if not block:
                break
            whole.update(block)
            digests.append(hashlib.md5(block, usedforsecurity=False).digest())
    if part_size is None:
        return whole.hexdigest()
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def etag_matches(path: Path, etag: str, size: int, part_sizes: tuple[int, ...]) -> bool:
    """True when the local file's content gives the remote ETag (single or multipart)."""
    etag = etag.strip('"')
    if "-" not in etag:
        return md5_etag(path) == etag
    parts = int(etag.rsplit("-", 1)[1] or 0)
    candidates = list(part_sizes)
    if parts:
        mib = 1024 * 1024
        guess = -(-size // parts)
        candidates.append(-(-guess // mib) * mib)
    return any(
        -(-size // part) == parts and md5_etag(path, part) == etag
        for part in dict.fromkeys(candidates)
        if part > 0
    )
