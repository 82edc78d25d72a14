"""Files only their owner may read: where they live, and writing them without a readable moment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def user_folder(kind: str) -> Path:
    """``$XDG_CONFIG_HOME/provena-widgets`` (``kind="config"``) or ``$XDG_CACHE_HOME/...`` ("cache")."""
    variable, default = {"config": ("XDG_CONFIG_HOME", ".config"), "cache": ("XDG_CACHE_HOME", ".cache")}[
        kind
    ]
    base = os.environ.get(variable) or os.path.join(os.path.expanduser("~"), default)
    return Path(base) / "provena-widgets"


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable by its owner only (0600), atomically, creating a 0700 folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)
    os.replace(temp, path)
