"""What S3 says about an object: a listing row, its times, and the ``mtime`` metadata uploads store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp as botocore_parse_timestamp

MTIME_METADATA = "mtime"  # the file's own modification time, seconds since the epoch (rclone's key)


@dataclass(frozen=True)
class ListedObject:
    """One ``Contents`` row of a listing, as the server sent it (its key is not yet trusted)."""

    key: str
    size: int
    modified: datetime | None
    etag: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ListedObject:
        return cls(
            str(row["Key"]),
            int(row.get("Size", 0)),
            row.get("LastModified"),
            str(row.get("ETag", "")).strip('"') or None,
        )

    @property
    def mtime(self) -> float | None:
        """``modified`` in seconds since the epoch."""
        return self.modified.timestamp() if self.modified else None


def stored_mtime(metadata: Mapping[str, str]) -> float | None:
    """The file's own modification time from an object's user metadata, when it holds one."""
    try:
        return float(metadata[MTIME_METADATA])
    except (KeyError, ValueError):
        return None


def parse_s3_timestamp(value: str) -> datetime:
    """S3's ISO 8601 times (``2026-11-25T17:30:13.000Z``) without dateutil, which took two thirds
    of the time to read a listing; anything else goes to botocore's own parser."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fallback: datetime = botocore_parse_timestamp(value)
        return fallback
    return parsed
