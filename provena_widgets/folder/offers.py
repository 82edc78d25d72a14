"""What a sender offers to upload, and what the kernel decides about each file before any byte."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..transfer.plan import Conflict

Answer = Literal["send", "skip", "fail", "ask"]


@dataclass(frozen=True)
class OfferedFile:
    """A file the sender has: ``path`` relative to the upload's target folder (with ``/``); a path
    ending in ``/`` is an empty folder."""

    id: str
    path: str
    size: int
    mtime: float | None = None

    @property
    def folder(self) -> bool:
        return self.path.endswith("/")

    @classmethod
    def of(cls, item: OfferedFile | Mapping[str, Any]) -> OfferedFile:
        if isinstance(item, OfferedFile):
            return item
        mtime = item.get("mtime")
        size = int(item["size"])
        return cls(str(item["id"]), str(item["path"]), size, None if mtime is None else float(mtime))


@dataclass
class Decision:
    """What the kernel wants of an offered file: ``send`` it from byte ``offset``, or not."""

    id: str
    path: str  # dataset-relative destination
    action: Answer
    reason: str = ""
    offset: int = 0
    conflict: Conflict | None = None

    def to_message(self) -> dict[str, Any]:
        """The decision as the page gets it (the existing file's size and time, for a question)."""
        found = self.conflict
        existing = None
        if found is not None:
            existing = {"size": found.existing_size, "modified": found.existing_modified.isoformat()}
        message = {"id": self.id, "path": self.path, "action": self.action, "reason": self.reason}
        return {**message, "offset": self.offset, "existing": existing}
