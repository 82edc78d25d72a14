"""What an upload or a download would do with each file, decided before any byte moves: the local
walk, what already exists (one listing per folder), conflicts, case folding and disk space."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidPath, LocalPathError, NotFound, ProtectedFile
from ..location import METADATA_FILE, DatasetLocation, split_relative
from ..s3objects import ListedObject
from ..transfer.localfs import (
    Containment,
    LocalPath,
    check_sources,
    fold_name,
    is_case_insensitive,
    local_parts,
    nearest_existing,
    top_name,
    walk_sources,
)
from ..transfer.plan import Existing, FileTask, OverwritePolicy, check_overwrite_mode
from ..units import format_bytes
from .conflicts import resolve_conflicts
from .connection import Connection
from .listing import children, objects_under


def plan_upload(
    connection: Connection,
    sources: Iterable[LocalPath] | LocalPath,
    to: str,
    overwrite: OverwritePolicy,
    allow_metadata: bool,
) -> list[FileTask]:
    """A task for each local file under ``sources``, going into the dataset folder ``to``."""
    check_overwrite_mode(overwrite)
    connection.ensure_credentials()
    location = connection.location
    destination = location.key(to, folder=True)
    base = location.relative(destination)
    local = check_sources([sources] if isinstance(sources, (str, os.PathLike)) else sources)
    metadata_key = location.prefix + METADATA_FILE
    tasks: list[FileTask] = []
    seen: set[str] = set()
    for item in walk_sources(local):
        path = base + "/".join(item.parts) + ("/" if item.is_folder else "")
        try:
            key = location.key(path, folder=item.is_folder)
        except InvalidPath as exc:
            tasks.append(FileTask(item.path, "", path, item.size, action="fail", reason=str(exc)))
            continue
        if key == metadata_key and not allow_metadata:
            raise ProtectedFile(
                f"{METADATA_FILE} at the dataset root belongs to Provena: upload it elsewhere, "
                "or pass allow_metadata=True to replace it."
            )
        task = FileTask(item.path, key, path, item.size, item.mtime, is_folder=item.is_folder)
        if item.problem:
            task.fail(item.problem)
        elif key in seen:
            task.fail("another source goes to the same place")
        seen.add(key)
        tasks.append(task)
    roots = {location.key(base + top_name(source)) for source in local}
    existing = _remote_index(connection, roots, destination)
    resolve_conflicts(connection, tasks, existing, overwrite, "upload")
    return tasks


def _remote_index(connection: Connection, roots: set[str], parent: str) -> dict[str, Existing]:
    """What exists at or under each destination root key (all directly in ``parent``).

    Many roots (files chosen one by one) cost one delimited listing of ``parent``, plus a
    listing of each root that is an existing folder, instead of a listing per root."""
    relative = connection.location.relative
    found: list[ListedObject] = []
    if len(roots) == 1:
        folders = roots
    else:
        files, prefixes = children(connection, parent, relative(parent))
        found += [listed for key, listed in files.items() if key in roots]
        folders = {prefix[:-1] for prefix in prefixes} & roots
    for root in folders:
        found += objects_under(connection, root if len(roots) == 1 else root + "/", relative(root))
    index: dict[str, Existing] = {}
    for listed in found:
        key = listed.key
        root = parent + key[len(parent) :].split("/", 1)[0]
        if key.startswith(parent) and root in roots and (key == root or root in folders):
            index[key] = Existing.listed(listed)
    return index


def plan_download(
    connection: Connection, paths: Iterable[str] | str, to: LocalPath, overwrite: OverwritePolicy
) -> list[FileTask]:
    """A task for each dataset file under ``paths``, going into the local folder ``to``."""
    check_overwrite_mode(overwrite)
    connection.ensure_credentials()
    target = Path(os.path.expanduser(os.fspath(to)))
    if target.exists() and not target.is_dir():
        raise LocalPathError(f"{target} is a file, not a folder: choose a folder to download into.")
    into = _DownloadFolder(target, is_case_insensitive(target), Containment(target))
    tasks: list[FileTask] = []
    folders: dict[str, dict[str, ListedObject]] = {}  # each parent folder is listed once
    for path in [paths] if isinstance(paths, str) else list(paths):
        for listed, parts in _remote_items(connection, path, folders):
            tasks.append(into.task(connection.location, listed, parts))
    existing: dict[str, Existing] = {}
    for task in tasks:
        if task.action == "transfer" and task.is_folder and task.local.is_dir():
            task.skip("the folder exists")
        elif task.action == "transfer" and task.local.is_file():
            info = task.local.stat()
            existing[task.key] = Existing(info.st_size, info.st_mtime)
        elif task.action == "transfer" and task.local.exists() and not task.is_folder:
            task.fail("a folder of that name is in the way")
    resolve_conflicts(connection, tasks, existing, overwrite, "download")
    _refuse_what_cannot_fit(tasks, target)
    return tasks


def _remote_items(
    connection: Connection, path: str, folders: dict[str, dict[str, ListedObject]]
) -> Iterator[tuple[ListedObject, tuple[str, ...]]]:
    """The objects a download path names, each with its local path parts (empty: unsafe).

    ``folders`` caches the files directly in each parent folder, so choosing thousands of
    files in one folder costs one listing, not one request each.
    """
    location = connection.location
    parts = split_relative(path)
    key = location.key(path)
    if parts and not path.endswith("/"):
        parent = key.rsplit("/", 1)[0] + "/"
        if parent not in folders:
            folders[parent] = children(connection, parent, path)[0]
        if key in folders[parent]:
            yield folders[parent][key], (parts[-1],)
            return
    folder = key if key.endswith("/") or not parts else key + "/"
    name = parts[-1] if parts else location.name
    found = False
    for listed in objects_under(connection, folder, path):
        found = True
        inside_folder = listed.key.startswith(folder) and location.contains(listed.key)
        rest = listed.key[len(folder) :] if inside_folder else ""
        yield listed, ((name, rest) if rest else (name,)) if inside_folder else ()
    if not found:
        raise NotFound(f"{path!r} does not exist in the dataset.")


@dataclass
class _DownloadFolder:
    """The local folder a download goes into, and the local paths its files have claimed."""

    root: Path
    case_insensitive: bool
    inside: Containment
    claimed: dict[str, str] = field(default_factory=dict)  # folded local path -> dataset path

    def task(self, location: DatasetLocation, listed: ListedObject, parts: tuple[str, ...]) -> FileTask:
        """The task for one listed object; failed when its local path is unsafe or taken."""
        if not parts:
            return FileTask(
                self.root,
                listed.key,
                listed.key,
                listed.size,
                action="fail",
                reason="the server listed a key outside the requested folder",
            )
        path = location.relative(listed.key)
        is_folder = listed.key.endswith("/")
        safe = local_parts("/".join(parts))
        task = FileTask(
            self.root.joinpath(*safe) if isinstance(safe, tuple) else self.root,
            listed.key,
            path,
            0 if is_folder else listed.size,
            listed.mtime,
            listed.etag,
            is_folder=is_folder,
        )
        if isinstance(safe, str):
            task.fail(f"unsafe name: {safe}")
        elif not self.inside(task.local):
            task.fail("it would be written outside the download folder")
        elif is_folder and listed.size:
            task.fail("a folder marker that holds data")
        else:
            other = self.claimed.setdefault(fold_name(safe, self.case_insensitive), path)
            if other != path:
                task.fail(f"it would overwrite {other} (names differ only by case)")
        return task


def _refuse_what_cannot_fit(tasks: list[FileTask], target: Path) -> None:
    """Fail, up front, each file larger than the free space where it would go (a listing can claim
    any size; this also keeps a hostile size from reaching the disk at all)."""
    free = shutil.disk_usage(nearest_existing(target)).free
    for task in tasks:
        if task.action == "transfer" and task.size > free:
            task.fail(
                f"it needs {format_bytes(task.size)} but only {format_bytes(free)} are free on the disk"
            )
