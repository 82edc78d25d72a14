"""Files only their owner may read: where they live, and writing them without a readable moment."""

from __future__ import annotations

import json
import os
import stat
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
    """Write JSON readable by its owner only (0600), atomically, creating a 0700 folder if needed.

    Our own folders (:func:`user_folder` and those in it) are made 0700 even when they already
    existed (``mkdir``'s mode applies only to the folder it creates); a folder the caller chose
    elsewhere is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in _own_folders(path.parent):
        if stat.S_IMODE(folder.stat().st_mode) != 0o700:
            folder.chmod(0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)
    os.replace(temp, path)


def _own_folders(folder: Path) -> list[Path]:
    """Our user folder and those down to ``folder`` when ``folder`` is in it; none when it is not."""
    for kind in ("config", "cache"):
        base = user_folder(kind)
        if folder.is_relative_to(base):
            parts = folder.relative_to(base).parts
            return [base.joinpath(*parts[:depth]) for depth in range(len(parts) + 1)]
    return []
