"""What a server-side copy, move or rename would do with each object, decided before any request
changes anything: the sources (folders recursively), where each goes, and what already exists there.

Conflicts: an object already at the destination with the same content (size, and ETag or stored
checksum) is left alone by a copy and replaced by a move (so a move that was interrupted finishes
when run again); any other one refuses the whole call with :class:`AlreadyExists` unless
``overwrite`` says otherwise (``"overwrite"``, ``"skip"``, ``"newer"``, ``"different"`` or a
callable, as for uploads)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

from ..errors import AlreadyExists, InvalidPath, NotFound, ProtectedFile
from ..location import METADATA_FILE, split_relative
from ..s3objects import ListedObject
from ..transfer.cancel import CancelToken
from ..transfer.copies import stored_checksum
from ..transfer.plan import Conflict, Existing, FileTask, OverwritePolicy, check_overwrite_mode, decide
from ..transfer.progress import Progress
from .connection import Connection
from .listing import children, objects_under


class CopyOptions(TypedDict, total=False):
    """The options of ``DatasetStore.copy``, ``move`` and ``rename``."""

    overwrite: OverwritePolicy  # where a different object is in the way; default "error"
    progress: Progress  # a callback, "text" (the default) or None
    cancel: CancelToken | None
    allow_metadata: bool  # move or replace Provena's root metadata.json (default False)


@dataclass(frozen=True)
class CopyRequest:
    """Copy (or move) the file or folder ``path`` into the dataset folder ``to`` as ``name``."""

    path: str
    name: str


def named_requests(paths: list[str]) -> list[CopyRequest]:
    """Each path keeps its own name (its last part) at the destination."""
    return [CopyRequest(path, (split_relative(path) or ("",))[-1]) for path in paths]


def rename_request(path: str, new_name: str) -> tuple[CopyRequest, str]:
    """The request renaming ``path`` within its parent folder, and that folder."""
    parts = split_relative(path)
    if not isinstance(new_name, str) or not new_name or "/" in new_name or new_name in (".", ".."):
        raise InvalidPath(f"new_name={new_name!r} must be a plain name without '/', e.g. 'results-v2.csv'.")
    if parts and parts[-1] == new_name:
        raise InvalidPath(f"{path!r} already has the name {new_name!r}: choose a different one.")
    return CopyRequest(path, new_name), "/".join(parts[:-1])


def plan_copy(
    connection: Connection,
    requests: list[CopyRequest],
    to: str,
    options: CopyOptions,
    move: bool,
) -> list[FileTask]:
    """A task for each object the requests name, going into the dataset folder ``to``."""
    overwrite = options.get("overwrite", "error")
    allow_metadata = options.get("allow_metadata", False)
    check_overwrite_mode(overwrite)
    connection.ensure_credentials()
    destination = connection.location.key(to, folder=True)
    verb = "moved" if move else "copied"
    sources: dict[str, dict[str, ListedObject]] = {}  # each source's parent folder is listed once
    tasks: list[FileTask] = []
    for request in requests:
        tasks += _tasks_for(connection, request, destination, sources, allow_metadata, move)
    seen: set[str] = set()
    for task in tasks:
        if task.action == "transfer" and task.key in seen:
            task.fail("another source goes to the same place")
        seen.add(task.key)
    roots = {destination + request.name for request in requests}
    existing = _existing(connection, roots, destination, to)
    _resolve(connection, tasks, existing, overwrite, move, f"nothing was {verb}")
    return tasks


def _tasks_for(
    connection: Connection,
    request: CopyRequest,
    destination: str,
    sources: dict[str, dict[str, ListedObject]],
    allow_metadata: bool,
    move: bool,
) -> list[FileTask]:
    location = connection.location
    path = request.path
    if not split_relative(path):
        raise InvalidPath("Name the files or folders to copy or move: the dataset folder itself cannot be.")
    key = location.key(path)
    metadata_key = location.prefix + METADATA_FILE
    if move and key == metadata_key and not allow_metadata:
        raise ProtectedFile(
            f"{METADATA_FILE} belongs to Provena and is not moved (copy it, or pass allow_metadata=True)."
        )
    target = destination + request.name
    folder = key.rstrip("/") + "/"
    if target == key.rstrip("/"):
        raise InvalidPath(f"{path!r} is already there: choose another folder, or rename it.")
    if (target + "/").startswith(folder):
        raise InvalidPath(f"{path!r} cannot go into itself: choose a folder outside it.")
    tasks = []
    for listed, rest in _sources(connection, path, key, sources):
        target_path = location.relative(target) + rest
        task = FileTask(Path(), "", target_path, listed.size, listed.mtime, listed.etag,
                        is_folder=listed.key.endswith("/"), source_key=listed.key,
                        source_path=location.relative(listed.key))  # fmt: skip
        try:
            task.key = location.key(target_path, folder=task.is_folder)
        except InvalidPath as exc:
            task.fail(str(exc))
        if task.key == metadata_key and not allow_metadata:
            raise ProtectedFile(
                f"{METADATA_FILE} at the dataset root belongs to Provena: choose another name, "
                "or pass allow_metadata=True to replace it."
            )
        tasks.append(task)
    return tasks


def _sources(
    connection: Connection, path: str, key: str, parents: dict[str, dict[str, ListedObject]]
) -> Iterator[tuple[ListedObject, str]]:
    """The objects ``path`` names, each with the rest of its key below the path ("" for a file)."""
    location = connection.location
    if not path.endswith("/"):
        parent = key.rsplit("/", 1)[0] + "/"
        if parent not in parents:
            parents[parent] = children(connection, parent, path)[0]
        if key in parents[parent]:
            yield parents[parent][key], ""
            return
    folder = key.rstrip("/") + "/"
    found = False
    for listed in objects_under(connection, folder, path):
        if listed.key.startswith(folder) and location.contains(listed.key):
            found = True
            yield listed, "/" + listed.key[len(folder) :]
    if not found:
        raise NotFound(f"{path!r} does not exist in the dataset, so nothing was copied or moved.")


def _existing(connection: Connection, roots: set[str], destination: str, to: str) -> dict[str, Existing]:
    """What exists at or under each destination root key: one listing of ``destination``, and one
    of each root that is an existing folder."""
    files, folders = children(connection, destination, to)
    found = [listed for listed_key, listed in files.items() if listed_key in roots]
    for root in roots:
        if root + "/" in folders:
            found += objects_under(connection, root + "/", connection.location.relative(root))
    return {listed.key: Existing.listed(listed) for listed in found}


def _resolve(
    connection: Connection,
    tasks: list[FileTask],
    existing: dict[str, Existing],
    overwrite: OverwritePolicy,
    move: bool,
    outcome: str,
) -> None:
    clashes: list[tuple[FileTask, Existing]] = []
    for task in tasks:
        found = existing.get(task.key)
        if task.action != "transfer" or found is None:
            continue
        if same_object(connection, task, found):
            if not move:
                task.skip("the same content is already there")
        else:
            clashes.append((task, found))
    if overwrite == "error" and clashes:
        names = ", ".join(task.path for task, _ in clashes[:3])
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise AlreadyExists(
            f"{names}{more} already exist{'s' if len(clashes) == 1 else ''} with other content; "
            f'{outcome} (pass overwrite="overwrite" to replace, or "skip").'
        )
    for task, found in clashes:
        mode = overwrite(_conflict(task, found)) if callable(overwrite) else overwrite
        check_overwrite_mode(mode)
        if mode == "error":
            raise AlreadyExists(f"{task.path} already exists with other content; {outcome}.")
        decide(task, found, mode, lambda: False)  # same content was settled above


def same_object(connection: Connection, task: FileTask, found: Existing) -> bool:
    """Whether the destination already holds the source's content: same size, and the same ETag
    or (where a multipart ETag differs by construction) the same stored checksum."""
    if task.size != found.size or not task.etag or not found.etag:
        return False
    if task.etag == found.etag:
        return True
    if "-" not in task.etag + found.etag:
        return False
    sums = [
        stored_checksum(connection.call("read", path, "head_object", Key=key, ChecksumMode="ENABLED"))
        for key, path in ((task.source_key, task.source_path), (task.key, task.path))
    ]
    return sums[0] is not None and sums[0] == sums[1] and "-" not in sums[0][1]


def _conflict(task: FileTask, found: Existing) -> Conflict:
    return Conflict(
        task.source_path,
        task.path,
        task.size,
        datetime.fromtimestamp(task.mtime, timezone.utc) if task.mtime is not None else None,
        found.size,
        datetime.fromtimestamp(found.mtime, timezone.utc),
    )
