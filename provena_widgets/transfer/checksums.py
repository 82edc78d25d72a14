"""What a download is checked against: the object's flexible checksum (CRC32C, CRC32, CRC64NVME,
full-object or composite), else an ETag that is an MD5."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IncompleteTransfer
from .settings import MiB

try:
    from awscrt import checksums as _crt_checksums
except ImportError:  # awscrt is a declared dependency; without it only MD5 ETags are checked
    _crt_checksums = None

_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
_CRCS = {"CRC32C": ("crc32c", 4), "CRC32": ("crc32", 4), "CRC64NVME": ("crc64nvme", 8)}
CRC_ALGORITHMS = frozenset(_CRCS)  # the flexible checksums this package can compute


def md5_in_etag(etag: str | None) -> str | None:
    """The ETag as an MD5 hex digest, when it is one (single-part uploads), else ``None``."""
    value = (etag or "").strip('"')
    return value.lower() if _MD5_HEX.fullmatch(value) else None


def etag_is_not_md5(headers: Mapping[str, str]) -> bool:
    """With SSE-KMS or customer keys (lower-case header names), S3's ETag is not the content's MD5."""
    return "kms" in headers.get("x-amz-server-side-encryption", "") or (
        "x-amz-server-side-encryption-customer-algorithm" in headers
    )


def blocks_of(path: Path, offset: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of the file from ``offset``, a MiB at a time; ``IncompleteTransfer`` if
    the file ends before."""
    with path.open("rb") as handle:
        handle.seek(offset)
        while length > 0:
            block = handle.read(min(MiB, length))
            if not block:
                raise IncompleteTransfer(f"{path.name} is shorter than expected; run the download again.")
            yield block
            length -= len(block)


def md5_of(path: Path, offset: int, length: int, digest: Any = None) -> str:
    """Feed ``length`` bytes of the file from ``offset`` to ``digest`` (a new MD5 if ``None``)."""
    digest = hashlib.md5(usedforsecurity=False) if digest is None else digest
    for block in blocks_of(path, offset, length):
        digest.update(block)
    return str(digest.hexdigest())


@dataclass(frozen=True)
class ObjectChecksum:
    """An object's flexible checksum as S3 reports it: over the whole object (``parts == 0``), or
    composite: the checksum of the parts' checksums (``parts`` of them)."""

    algorithm: str
    value: str  # base64, as S3 writes it, without the "-N" of a composite
    parts: int = 0

    @classmethod
    def of(cls, response: Mapping[str, Any], parts_count: int = 0) -> ObjectChecksum | None:
        """From a HeadObject/GetObject answer asked with ``ChecksumMode="ENABLED"``; ``None`` when
        it has none this package can compute. ``parts_count``: the object's parts, for servers
        that mark a composite checksum only by ``ChecksumType``."""
        if _crt_checksums is None:
            return None
        for algorithm in _CRCS:
            reported = response.get(f"Checksum{algorithm}")
            if reported:
                value, _, count = str(reported).partition("-")
                composite = count or response.get("ChecksumType") == "COMPOSITE"
                parts = int(count) if count else (parts_count if composite else 0)
                if composite and parts < 1:
                    return None
                return cls(algorithm, value, parts)
        return None

    @classmethod
    def of_headers(cls, headers: Mapping[str, str]) -> ObjectChecksum | None:
        """From raw response headers (lower-case names)."""
        answer = {f"Checksum{name}": headers.get(f"x-amz-checksum-{name.lower()}") for name in _CRCS}
        answer["ChecksumType"] = headers.get("x-amz-checksum-type")
        return cls.of(answer)

    def update(self, data: bytes | memoryview, previous: int = 0) -> int:
        """The running CRC of a range after ``data``."""
        function: Callable[..., int] = getattr(_crt_checksums, _CRCS[self.algorithm][0])
        return function(data, previous)

    def matches(self, ranges: Sequence[tuple[int, int]]) -> bool:
        """Whether the CRCs of consecutive ranges, ``(crc, length)`` in order, make this checksum:
        for a composite one the ranges must be the upload's parts."""
        name, width = _CRCS[self.algorithm]
        if self.parts:
            if len(ranges) != self.parts:
                return False
            joined = b"".join(crc.to_bytes(width, "big") for crc, _ in ranges)
            return self.encode(self.update(joined)) == self.value
        combine: Callable[[int, int, int], int] = getattr(_crt_checksums, f"combine_{name}")
        total = 0
        for crc, length in ranges:
            total = combine(total, crc, length)
        return self.encode(total) == self.value

    def encode(self, crc: int) -> str:
        """A CRC as S3 writes it: big-endian bytes in base64."""
        return base64.b64encode(crc.to_bytes(_CRCS[self.algorithm][1], "big")).decode()
