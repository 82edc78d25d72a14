"""LocalBrowser: the kernel's own files in the same file table, starting in the notebook's folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import traitlets

from ..errors import LocalPathError
from ..store import Entry
from .folder_browser import FolderBrowser
from .listing_view import folder_path

PAGE = 1000  # entries per page of a local listing


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
    ``selected`` are relative to ``root``; ``folder`` is the absolute folder shown."""

    root = traitlets.Unicode(read_only=True, help="the top folder, absolute")

    def __init__(
        self, root: str | os.PathLike[str] = "/", start: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> None:
        top = Path(root).expanduser().resolve()
        self.set_trait("root", str(top))
        super().__init__([], **kwargs)
        self.add_class("provena-local-browser")
        here = Path(start if start is not None else os.getcwd()).expanduser().resolve()
        self._render_crumbs()
        if here.is_relative_to(top) and here != top:
            self.path = folder_path(here.relative_to(top).as_posix())
        else:
            self.refresh()

    @property
    def folder(self) -> Path:
        return Path(self.root, self.path)

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
