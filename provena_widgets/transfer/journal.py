"""The resume journal: what a multipart transfer has finished, kept on local disk as it goes.

Provena's credentials do not allow ``ListParts``, so there this record is the only source of truth
about which parts of an upload arrived (where ListParts is allowed, an upload without a record is
taken up from the server: :mod:`.leftover`). One small JSON file per transfer, written atomically
after each part, under ``$XDG_CACHE_HOME/provena-widgets/journal`` (no secrets are kept in it).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from ..private_files import user_folder, write_private_json


def default_journal_dir() -> Path:
    return user_folder("cache") / "journal"


class Journal:
    """Resume records keyed by what is transferred: direction, endpoint, bucket, key, local path."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_journal_dir()
        self._lock = threading.Lock()

    @staticmethod
    def name(direction: str, endpoint: str, bucket: str, key: str, local: Path) -> str:
        identity = "\n".join((direction, endpoint, bucket, key, os.path.abspath(local)))
        return hashlib.sha256(identity.encode()).hexdigest()[:32]

    def load(self, name: str) -> dict[str, Any] | None:
        try:
            record = json.loads((self.folder / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def save(self, name: str, record: dict[str, Any]) -> None:
        with self._lock:
            write_private_json(self.folder / f"{name}.json", record)

    def delete(self, name: str) -> None:
        (self.folder / f"{name}.json").unlink(missing_ok=True)

    def records(self) -> list[dict[str, Any]]:
        """Every record (for finding uploads that nobody will resume)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.json"):
            record = self.load(path.stem)
            if record is not None:
                found.append(record)
        return found
