"""What happened to each file of a transfer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..units import format_bytes

Status = Literal["transferred", "skipped", "failed", "cancelled"]
Direction = Literal["upload", "download", "copy", "move"]


@dataclass
class FileResult:
    """One file's outcome. ``source``/``destination``: a local path and a dataset path, or two
    dataset paths for a copy or a move."""

    source: str
    destination: str
    size: int
    status: Status
    bytes: int = 0
    seconds: float = 0.0
    reason: str = ""
    checksum: str | None = None  # what the server stored (uploads) or the bytes were checked against

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.status:<11} {self.source} -> {self.destination}{why}"


@dataclass
class TransferReport:
    """Every file of one transfer, copy or move, as transferred, skipped, failed or cancelled."""

    direction: Direction
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    deleted: list[str] = field(default_factory=list)  # paths a sync removed at the destination

    def _with(self, status: Status) -> list[FileResult]:
        return [result for result in self.files if result.status == status]

    @property
    def transferred(self) -> list[FileResult]:
        return self._with("transferred")

    @property
    def skipped(self) -> list[FileResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        return self._with("failed")

    @property
    def not_done(self) -> list[FileResult]:
        """Files cancelled before they finished."""
        return self._with("cancelled")

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing was cancelled."""
        return not self.cancelled and all(
            result.status in ("transferred", "skipped") for result in self.files
        )

    @property
    def bytes_transferred(self) -> int:
        return sum(result.bytes for result in self.transferred)

    @property
    def rate(self) -> float:
        """Bytes per second over the whole transfer."""
        return self.bytes_transferred / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        parts = [
            f"{self.direction}: {len(self.transferred)} transferred "
            f"({format_bytes(self.bytes_transferred)} in {self.seconds:.1f} s)",
            f"{len(self.skipped)} skipped",
            f"{len(self.failed)} failed",
        ]
        if self.deleted:
            parts.append(f"{len(self.deleted)} deleted")
        if self.cancelled:
            parts.append(f"cancelled ({len(self.not_done)} not done)")
        return ", ".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def to_records(self) -> list[dict[str, Any]]:
        return [vars(result).copy() for result in self.files]

    def to_dataframe(self) -> Any:
        """The per-file table as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame.from_records(
            self.to_records(),
            columns=["source", "destination", "size", "status", "bytes", "seconds", "reason"],
        )
