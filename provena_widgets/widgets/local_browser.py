"""LocalBrowser: the kernel's own files in the same file table, starting in the notebook's folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import traitlets

from ..errors import LocalPathError
from ..store import Entry
from .file_details import paths_html
from .folder_browser import FolderBrowser
from .listing_view import folder_path

PAGE = 1000  # entries per page of a local listing
LOCAL_ACTIONS = ["open", "up", "download", "upload", "rename", "mkdir", "copy_path"]


def local_entry(item: os.DirEntry[str], folder: str) -> Entry:
    """``item`` of the root-relative ``folder`` as a table entry (a broken link shows with no size)."""
    is_dir = item.is_dir()
    try:
        stat = item.stat()
    except OSError:
        return Entry(item.name, folder + item.name, False, 0, None)
    modified = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
    key = folder + item.name + ("/" if is_dir else "")
    return Entry(item.name, key, is_dir, 0 if is_dir else stat.st_size, modified)


class LocalBrowser(FolderBrowser):
    """The kernel's files: ``root`` is the top of the breadcrumbs and the limit of Up (``/`` by default,
    so nothing is out of reach); it starts in ``start`` (the notebook's folder). ``path`` and
    ``selected`` are relative to ``root``; ``folder`` is the absolute folder shown. Its table
    offers open, up, Rename, New folder and Copy path here; Download and Upload are the transfer
    panel's."""

    root = traitlets.Unicode(read_only=True, help="the top folder, absolute")

    def __init__(
        self, root: str | os.PathLike[str] = "/", start: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> None:
        top = Path(root).expanduser().resolve()
        self.set_trait("root", str(top))
        super().__init__([], **kwargs)
        self.add_class("provena-local-browser")
        self.table.actions = LOCAL_ACTIONS
        here = Path(start if start is not None else os.getcwd()).expanduser().resolve()
        self._render_crumbs()
        if here.is_relative_to(top) and here != top:
            self.path = folder_path(here.relative_to(top).as_posix())
        else:
            self.refresh()

    @property
    def folder(self) -> Path:
        return Path(self.root, self.path)

    def local_paths(self, names: list[str]) -> list[Path]:
        """The absolute paths of rows ``names`` of the folder shown."""
        return [Path(self.root, key) for key in self.paths_of(names)]

    def _paths_html(self, path: str) -> str:
        return paths_html(path, str(Path(self.root, path)))

    def _on_action(self, action: str, names: list[str], value: str | None) -> None:
        super()._on_action(action, names, value)
        if action == "mkdir" and value:
            self._work.run(lambda: self._change(value, lambda new: new.mkdir(), f"Created {value}."))
        elif action == "rename" and len(names) == 1 and value:
            old = self.local_paths(names)[0]
            self._work.run(lambda: self._change(value, old.rename, f"Renamed {old.name} to {value}."))

    def _change(self, name: str, change: Callable[[Path], Any], done: str) -> None:
        """``change(path)`` for ``name`` in the folder shown (which must not exist yet), then refresh."""
        name = name.strip().strip("/")
        if not name or "/" in name or name in (".", ".."):
            raise LocalPathError(f"{name!r} cannot name a file or folder here.")
        new = Path(self.root, self._shown_path, name)
        if new.exists():
            raise LocalPathError(f"{new} already exists.")
        try:
            change(new)
        except OSError as exc:
            raise LocalPathError(f"{new} cannot be made: {exc.strerror or exc}.") from None
        self.status.show(done, "ok")
        self.refresh()

    def _root_name(self) -> str:
        return self.root

    def _where(self, path: str) -> str:
        return str(Path(self.root, path))

    def _listing(self, path: str) -> Iterator[list[Entry]]:
        try:
            with os.scandir(Path(self.root, path)) as items:
                page: list[Entry] = []
                for item in items:
                    page.append(local_entry(item, path))
                    if len(page) == PAGE:
                        yield page
                        page = []
                yield page
        except OSError as exc:
            raise LocalPathError(f"{Path(self.root, path)} cannot be listed: {exc.strerror}.") from None
