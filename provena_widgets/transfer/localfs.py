"""The local side: walking what to upload, and safe local paths for what is downloaded."""

from __future__ import annotations

import os
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocalPathError

LocalPath = str | os.PathLike[str]
MAX_NAME_BYTES = 255
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in "123456789"}


@dataclass(frozen=True)
class LocalItem:
    """A local file (or empty folder) to upload, with its path relative to the destination."""

    path: Path
    parts: tuple[str, ...]
    size: int
    mtime: float
    is_folder: bool = False
    problem: str = ""  # why it cannot be uploaded, if it cannot


def check_sources(sources: Iterable[LocalPath]) -> list[Path]:
    """Resolve upload sources; raise :class:`LocalPathError` for any that cannot be used."""
    paths: list[Path] = []
    for source in sources:
        path = Path(os.path.expanduser(os.fspath(source)))
        try:
            info = path.stat()
        except FileNotFoundError:
            raise LocalPathError(f"{path} does not exist: check the name and folder.") from None
        except PermissionError:
            raise LocalPathError(f"{path} cannot be read: permission denied.") from None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise LocalPathError(f"{path} is not a regular file or folder, so it cannot be uploaded.")
        if not os.access(path, os.R_OK):
            raise LocalPathError(f"{path} cannot be read: permission denied.")
        paths.append(path)
    if not paths:
        raise LocalPathError("Nothing to upload: choose at least one file or folder.")
    return paths


def walk_sources(sources: list[Path]) -> Iterator[LocalItem]:
    """Every file under ``sources``; a folder keeps its own name, like ``cp -r``."""
    for source in sources:
        name = top_name(source)
        if source.is_dir():
            yield from _walk_folder(source, (name,))
        else:
            yield _item(source, (name,))


def top_name(source: Path) -> str:
    """The name an upload source keeps at the destination (``.`` is the folder's own name)."""
    return source.resolve().name if source.name in ("", ".", "..") else source.name


def _walk_folder(folder: Path, parts: tuple[str, ...]) -> Iterator[LocalItem]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        yield LocalItem(folder, parts, 0, 0.0, True, f"cannot read the folder ({exc.strerror})")
        return
    if not entries:
        yield LocalItem(folder, parts, 0, folder.stat().st_mtime, is_folder=True)
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_folder(path, (*parts, entry.name))
        elif entry.is_dir():  # a link to a folder: not followed, to avoid loops
            yield LocalItem(path, (*parts, entry.name), 0, 0.0, problem="a link to a folder (skipped)")
        else:
            yield _item(path, (*parts, entry.name))


def _item(path: Path, parts: tuple[str, ...]) -> LocalItem:
    try:
        info = path.stat()
    except OSError as exc:
        return LocalItem(path, parts, 0, 0.0, problem=f"cannot read it ({exc.strerror})")
    if not stat.S_ISREG(info.st_mode):
        return LocalItem(path, parts, 0, 0.0, problem="not a regular file (device, pipe or socket)")
    if not os.access(path, os.R_OK):
        return LocalItem(path, parts, info.st_size, info.st_mtime, problem="permission denied")
    return LocalItem(path, parts, info.st_size, info.st_mtime)


def local_parts(relative_key: str) -> tuple[str, ...] | str:
    """The local path parts for a key relative to the download root, or why it is unsafe.

    Refuses anything that could land outside the target folder or mean something else on
    another system: ``..``, ``.``, absolute paths, backslashes, drive letters, NUL and control
    characters, reserved Windows names and over-long names.
    """
    if not relative_key:
        return "an empty name"
    if relative_key.startswith("/"):
        return "an absolute path"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in relative_key):
        return "control characters in its name"
    if "\\" in relative_key:
        return "a backslash in its name"
    parts = relative_key.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return f"an unsafe path part {part or '(empty)'!r}"
        if ":" in part and len(part) >= 2 and part[1] == ":":
            return "a drive letter"
        if len(part.encode()) > MAX_NAME_BYTES:
            return f"a name longer than {MAX_NAME_BYTES} bytes"
        if part.split(".")[0].lower() in _WINDOWS_RESERVED:
            return f"a name reserved on Windows ({part})"
    return tuple(parts)


class Containment:
    """Answers "does this path, following links that already exist, stay inside ``base``?".

    Names were already checked (no ``..``), so only links on the way can lead out: each folder's
    real path is resolved once, not once per file.
    """

    def __init__(self, base: Path) -> None:
        self._root = os.path.realpath(base)
        self._folders: dict[Path, bool] = {}

    def _within(self, real: str) -> bool:
        return real == self._root or real.startswith(self._root.rstrip(os.sep) + os.sep)

    def __call__(self, candidate: Path) -> bool:
        folder = candidate.parent
        ok = self._folders.get(folder)
        if ok is None:
            ok = self._folders[folder] = self._within(os.path.realpath(folder))
        return ok and (not candidate.is_symlink() or self._within(os.path.realpath(candidate)))


def is_case_insensitive(folder: Path) -> bool:
    """Whether names differ only by case where ``folder`` is (or will be) on this machine."""
    existing = nearest_existing(folder)
    try:
        with tempfile.NamedTemporaryFile(prefix=".Provena-Case-", dir=existing) as probe:
            return os.path.exists(os.path.join(existing, os.path.basename(probe.name).lower()))
    except OSError:
        return False  # cannot write there: the download will say so itself


def nearest_existing(folder: Path) -> Path:
    """``folder``, or its closest ancestor that exists (where a download's folders will be made)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def fold_name(parts: tuple[str, ...], case_insensitive: bool) -> str:
    """A comparison key for collisions: Unicode-normalised, and case-folded where needed."""
    joined = unicodedata.normalize("NFC", "/".join(parts))
    return joined.casefold() if case_insensitive else joined
