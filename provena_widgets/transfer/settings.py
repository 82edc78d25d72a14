"""How a transfer runs: concurrency, multipart sizes, retries, checksums."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
MIN_PART = 5 * MiB  # S3's smallest part of a multipart upload (but the last)


@dataclass(frozen=True)
class TransferSettings:
    """Tuning knobs: concurrency, multipart sizes and retries."""

    workers: int = 32  # files in flight at once (whole small files mostly wait on the network)
    part_workers: int = 10  # parts of large files in flight at once (these use Python's CPU)
    multipart_threshold: int = 16 * MiB
    part_size: int = 8 * MiB
    attempts: int = 4  # tries per file or part, on top of botocore's own request retries
    request_attempts: int = 5  # botocore's tries per request (standard retry mode)
    timeout: float = 60.0  # seconds without an answer before a request counts as failed
    backoff: float = 0.5  # seconds before the second try; doubles each time
    chunk_size: int = 256 * KiB
    progress_interval: float = 0.1
    resume: bool = True  # keep what a stopped multipart transfer finished, and continue from it
    journal_dir: Path | None = None  # default: $XDG_CACHE_HOME/provena-widgets/journal
    checksum: str | None = "auto"  # flexible checksum for uploads: CRC32C where awscrt is installed
    crt: bool = True  # whole small files through the AWS CRT (native code) when awscrt is installed
    crt_memory: int = 32 * MiB  # bytes of bodies the CRT may hold at once (it buffers each)
    verify: bool = True  # check downloads: the object's own checksum (CRC), else its MD5 ETag
    copy_threshold: int = 5 * GiB  # server-side copies above this go in parts (S3's CopyObject limit)
    copy_part_size: int = 512 * MiB  # the parts of such copies (5 MiB to 5 GiB)

    def part_size_for(self, size: int) -> int:
        part = self.part_size
        while -(-size // part) > MAX_PARTS:
            part *= 2
        return part


def resolve_checksum(choice: str | None) -> str | None:
    """``"auto"``: CRC32C when botocore can compute it (with awscrt), else CRC32."""
    if choice != "auto":
        return choice
    try:
        import awscrt.checksums  # noqa: F401
    except ImportError:
        return "CRC32"
    return "CRC32C"
