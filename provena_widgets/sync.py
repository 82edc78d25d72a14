"""Sync a local folder and a dataset folder, with a preview of what would change."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from .errors import LocalPathError
from .folder.conflicts import same_content, source_mtime
from .folder.connection import Connection
from .folder.listing import objects_under
from .location import METADATA_FILE, split_relative
from .s3objects import ListedObject
from .transfer.localfs import LocalPath, local_parts
from .transfer.plan import MTIME_TOLERANCE, Existing, FileTask
from .transfer.report import Direction
from .units import format_bytes

if TYPE_CHECKING:
    import pandas as pd

Compare = Literal["time", "checksum"]
State = Literal["new", "changed", "unchanged", "extra"]
COLUMNS = (
    "path",
    "state",
    "action",
    "source_size",
    "destination_size",
    "source_modified",
    "destination_modified",
)


@dataclass(frozen=True)
class SyncItem:
    """One path of a sync plan, relative to the two folders."""

    path: str
    state: State
    action: str  # upload / download / skip / delete / keep
    source_size: int | None
    destination_size: int | None
    source_modified: datetime | None
    destination_modified: datetime | None
    reason: str = ""


@dataclass
class SyncPlan:
    """What a sync would do: new, changed, unchanged and extra-at-destination files, with sizes."""

    direction: Literal["up", "down"]
    remote_base: str  # the dataset folder synced, relative to the dataset ("" or "sub/")
    local_root: Path
    items: list[SyncItem] = field(default_factory=list)
    tasks: list[FileTask] = field(default_factory=list, repr=False)

    def with_state(self, state: State) -> list[SyncItem]:
        return [item for item in self.items if item.state == state]

    @property
    def new(self) -> list[SyncItem]:
        return self.with_state("new")

    @property
    def changed(self) -> list[SyncItem]:
        return self.with_state("changed")

    @property
    def unchanged(self) -> list[SyncItem]:
        return self.with_state("unchanged")

    @property
    def extra(self) -> list[SyncItem]:
        return self.with_state("extra")

    @property
    def to_delete(self) -> list[SyncItem]:
        return [item for item in self.items if item.action == "delete"]

    @property
    def transfer_direction(self) -> Direction:
        return "upload" if self.direction == "up" else "download"

    def delete_local_extras(self) -> list[str]:
        """Delete the local files a download plan marks for deletion; returns their paths."""
        doomed = [item.path for item in self.to_delete]
        for path in doomed:
            (self.local_root / path).unlink(missing_ok=True)
        return doomed

    @property
    def bytes_to_send(self) -> int:
        return sum(item.source_size or 0 for item in self.items if item.action in ("upload", "download"))

    def summary(self) -> str:
        parts = [f"{len(self.new)} new", f"{len(self.changed)} changed", f"{len(self.unchanged)} unchanged",
                 f"{len(self.extra)} extra at the destination"]  # fmt: skip
        deleting = f", {len(self.to_delete)} to delete" if self.to_delete else ""
        return f"{', '.join(parts)}{deleting}; {format_bytes(self.bytes_to_send)} to transfer."

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"{item.action:<8} {item.state:<9} {item.path}" for item in self.items]
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        return [{column: getattr(item, column) for column in COLUMNS} for item in self.items]

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records(), columns=list(COLUMNS))

    def table(self) -> SyncTable:
        """A pandas DataFrame when pandas is installed, else this plan (which prints as a table)."""
        try:
            return self.to_dataframe()
        except ImportError:
            return self


SyncTable: TypeAlias = "pd.DataFrame | SyncPlan"  # a plan as a table: a DataFrame when pandas is installed


@dataclass(frozen=True)
class Filter:
    """Include and exclude globs; order does not matter and exclude wins.

    A pattern without ``/`` matches a file's name at any depth; with ``/``, its whole relative path.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Iterable[str] | str | None, exclude: Iterable[str] | str | None) -> Filter:
        def norm(value: Iterable[str] | str | None) -> tuple[str, ...]:
            return (value,) if isinstance(value, str) else tuple(value or ())

        return cls(norm(include), norm(exclude))

    def _hit(self, pattern: str, path: str) -> bool:
        target = path if "/" in pattern.strip("/") else path.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(target, pattern.strip("/")) or fnmatch.fnmatchcase(path, pattern)

    def accepts(self, path: str) -> bool:
        if any(self._hit(pattern, path) for pattern in self.exclude):
            return False
        return not self.include or any(self._hit(pattern, path) for pattern in self.include)


def _stamp(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds is not None else None


def _local_files(root: Path) -> dict[str, tuple[Path, int, float]]:
    """Regular files under ``root`` by posix relative path."""
    found: dict[str, tuple[Path, int, float]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file():
                info = path.stat()
                found[path.relative_to(root).as_posix()] = (path, info.st_size, info.st_mtime)
    return found


def _remote_files(connection: Connection, folder_key: str, label: str) -> dict[str, ListedObject]:
    """Objects under ``folder_key`` (trusted ones only) by relative path."""
    found: dict[str, ListedObject] = {}
    for listed in objects_under(connection, folder_key, label):
        rest = listed.key[len(folder_key) :]
        if (
            listed.key.startswith(folder_key)
            and rest
            and not listed.key.endswith("/")
            and not isinstance(local_parts(rest), str)
        ):
            found[rest] = listed
    return found


@dataclass(frozen=True)
class SyncOptions:
    """What a sync looks at (``rules``), how it compares, and whether it deletes extras."""

    rules: Filter
    compare: Compare
    delete: bool


def plan_sync_up(
    connection: Connection, local_dir: LocalPath, to: str, options: SyncOptions, allow_metadata: bool
) -> SyncPlan:
    """Compare ``local_dir``'s contents with the dataset folder ``to``; change nothing."""
    root = Path(os.path.expanduser(os.fspath(local_dir)))
    if not root.is_dir():
        raise LocalPathError(f"{root} is not a folder: sync needs a local folder.")
    connection.ensure_credentials()
    folder_key = connection.location.key(to, folder=True)
    at_root = folder_key == connection.location.prefix
    rules = options.rules
    local = {p: v for p, v in _local_files(root).items() if rules.accepts(p)}
    remote = {p: v for p, v in _remote_files(connection, folder_key, to).items() if rules.accepts(p)}
    plan = SyncPlan("up", connection.location.relative(folder_key), root)
    for path in sorted(set(local) | set(remote)):
        protected = at_root and path == METADATA_FILE and not allow_metadata
        if path not in local:
            extra = remote[path]
            action = "delete" if options.delete and not protected else "keep"
            reason = "Provena's metadata.json is never deleted" if protected and options.delete else ""
            plan.items.append(
                SyncItem(path, "extra", action, None, extra.size, None, _stamp(extra.mtime), reason)
            )
            continue
        source, size, mtime = local[path]
        task = FileTask(
            source, folder_key + path, connection.location.relative(folder_key + path), size, mtime
        )
        found = remote.get(path)
        existing = Existing.listed(found) if found else None
        state = "new" if existing is None else _state(connection, task, existing, options.compare, "upload")
        if protected:
            plan.items.append(SyncItem(path, state, "skip", size, existing.size if existing else None,
                                       _stamp(mtime), _stamp(existing.mtime) if existing else None,
                                       "Provena's metadata.json is not uploaded"))  # fmt: skip
            continue
        action = "skip" if state == "unchanged" else "upload"
        plan.items.append(SyncItem(path, state, action, size, existing.size if existing else None,
                                   _stamp(mtime), _stamp(existing.mtime) if existing else None))  # fmt: skip
        if action == "upload":
            plan.tasks.append(task)
    return plan


def plan_sync_down(connection: Connection, from_: str, to: LocalPath, options: SyncOptions) -> SyncPlan:
    """Compare the dataset folder ``from_`` with the local folder ``to``; change nothing."""
    root = Path(os.path.expanduser(os.fspath(to)))
    if root.exists() and not root.is_dir():
        raise LocalPathError(f"{root} is a file, not a folder: choose a folder to sync into.")
    connection.ensure_credentials()
    split_relative(from_)
    folder_key = connection.location.key(from_, folder=True)
    rules = options.rules
    remote = {p: v for p, v in _remote_files(connection, folder_key, from_).items() if rules.accepts(p)}
    local = {p: v for p, v in (_local_files(root) if root.is_dir() else {}).items() if rules.accepts(p)}
    plan = SyncPlan("down", connection.location.relative(folder_key), root)
    for path in sorted(set(local) | set(remote)):
        if path not in remote:
            _, size, mtime = local[path]
            protected = path == METADATA_FILE
            action = "delete" if options.delete and not protected else "keep"
            reason = "metadata.json is never deleted" if protected and options.delete else ""
            plan.items.append(SyncItem(path, "extra", action, None, size, None, _stamp(mtime), reason))
            continue
        listed = remote[path]
        parts = local_parts(path)
        assert isinstance(parts, tuple)
        relative = connection.location.relative(listed.key)
        task = FileTask(root.joinpath(*parts), listed.key, relative, listed.size, listed.mtime, listed.etag)
        found = local.get(path)
        existing = Existing(found[1], found[2]) if found else None
        state = "new" if existing is None else _state(connection, task, existing, options.compare, "download")
        action = "skip" if state == "unchanged" else "download"
        had = existing.size if existing else None
        plan.items.append(SyncItem(path, state, action, listed.size, had, _stamp(task.mtime),
                                   _stamp(existing.mtime) if existing else None))  # fmt: skip
        if action == "download":
            plan.tasks.append(task)
    return plan


def _state(
    connection: Connection, task: FileTask, existing: Existing, compare: Compare, direction: Direction
) -> State:
    if task.size != existing.size:
        return "changed"
    if compare == "checksum":
        same = same_content(connection.settings, task, existing, direction)
        return "unchanged" if same else "changed"
    mtime = task.mtime or 0.0
    if direction == "download" and mtime > existing.mtime + MTIME_TOLERANCE:
        mtime = source_mtime(connection, task) or mtime  # the file's own time, if uploads kept it
        task.mtime = mtime
    return "changed" if mtime > existing.mtime + MTIME_TOLERANCE else "unchanged"
