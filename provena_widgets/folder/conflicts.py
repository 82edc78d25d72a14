"""What to do where the destination already has a file: the ``overwrite`` policy, and the two
comparisons it may need (the remote file's own time, and content against an ETag)."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

from ..errors import AlreadyExists
from ..s3objects import stored_mtime
from ..transfer.engine import TransferSettings
from ..transfer.plan import (
    Conflict,
    Existing,
    FileTask,
    OverwritePolicy,
    check_overwrite_mode,
    decide,
    etag_matches,
)
from ..transfer.report import Direction
from .connection import Connection


def resolve_conflicts(
    connection: Connection,
    tasks: list[FileTask],
    existing: dict[str, Existing],
    overwrite: OverwritePolicy,
    direction: Direction,
) -> None:
    """Mark each task whose key is in ``existing`` as transfer or skip under ``overwrite``;
    ``"error"`` raises :class:`AlreadyExists` before anything is transferred."""
    clashes: list[tuple[FileTask, Existing]] = []
    for task in tasks:
        if task.action != "transfer" or task.key not in existing:
            continue
        if task.is_folder:
            task.skip("the folder exists")
        else:
            clashes.append((task, existing[task.key]))
    if overwrite == "error" and clashes:
        names = ", ".join(task.path for task, _ in clashes[:3])
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise AlreadyExists(
            f"{names}{more} already exist{'s' if len(clashes) == 1 else ''} at the "
            "destination; nothing was transferred (choose skip, newer or overwrite)."
        )
    for task, found in clashes:
        mode = overwrite(_conflict(task, found, direction)) if callable(overwrite) else overwrite
        check_overwrite_mode(mode)
        if mode == "error":
            raise AlreadyExists(f"{task.path} already exists at the destination.")
        if direction == "download" and task.size == found.size and mode in ("skip", "newer"):
            task.mtime = source_mtime(connection, task)
        same = functools.partial(same_content, connection.settings, task, found, direction)
        decide(task, found, mode, same)


def source_mtime(connection: Connection, task: FileTask) -> float | None:
    """A remote file's own modification time (the ``mtime`` metadata uploads store), else the
    listing's time already in ``task``."""
    response = connection.call("read", task.path, "head_object", Key=task.key)
    stored = stored_mtime(response.get("Metadata", {}))
    return task.mtime if stored is None else stored


def same_content(settings: TransferSettings, task: FileTask, found: Existing, direction: Direction) -> bool:
    """Whether the local file's content gives the remote file's ETag."""
    etag = found.etag if direction == "upload" else task.etag
    if not etag:
        return False
    sizes = (settings.part_size, settings.part_size_for(task.size))
    return etag_matches(task.local, etag, task.size, sizes)


def _conflict(task: FileTask, found: Existing, direction: Direction) -> Conflict:
    source, destination = (
        (str(task.local), task.path) if direction == "upload" else (task.path, str(task.local))
    )
    return Conflict(
        source,
        destination,
        task.size,
        datetime.fromtimestamp(task.mtime, timezone.utc) if task.mtime is not None else None,
        found.size,
        datetime.fromtimestamp(found.mtime, timezone.utc),
    )
