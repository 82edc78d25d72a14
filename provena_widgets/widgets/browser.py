"""RemoteBrowser: the dataset folder as a file table, locked to the dataset's root."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

from ..location import METADATA_FILE
from ..store import DatasetStore, Entry
from .common import button
from .folder_browser import FolderBrowser
from .listing_view import delete_question


class RemoteBrowser(FolderBrowser):
    """Browse the dataset folder: breadcrumbs, Up, sort, glob filter, New folder, Rename, Delete.

    ``path`` and ``selected`` are dataset-relative (see :class:`FolderBrowser` for every trait);
    ``store`` is the connected :class:`DatasetStore`. The table's actions reach
    ``browser.table.on_action`` callbacks; open, up, New folder, Rename and Delete are handled here.
    """

    store = traitlets.Instance(DatasetStore, allow_none=True)

    def __init__(self, store: DatasetStore | None = None, **kwargs: Any) -> None:
        self._to_delete: list[str] = []
        self.confirm = widgets.VBox(layout=widgets.Layout(display="none"))
        self.confirm.add_class("provena-confirm")
        self.confirm_text = widgets.HTML()
        self.confirm_button = button("Delete them", "provena-confirm-delete", style="danger")
        self.keep_button = button("Keep them", "provena-confirm-cancel")
        self.confirm.children = [self.confirm_text, widgets.HBox([self.confirm_button, self.keep_button])]
        super().__init__([self.confirm], **kwargs)
        self.add_class("provena-remote-browser")
        self.confirm_button.on_click(lambda _: self._work.run(self.confirm_delete))
        self.keep_button.on_click(lambda _: self._hide_confirm())
        self._render_crumbs()
        self.store = store

    def _root_name(self) -> str:
        return self.store.location.name if self.store is not None else "dataset"

    def _where(self, path: str) -> str:
        return path or "the dataset folder"

    def _not_ready(self) -> str:
        return "" if self.store is not None else "Not connected: enter credentials and press Connect."

    def _listing(self, path: str) -> Iterator[list[Entry]]:
        assert self.store is not None
        return self.store.iter_pages(path)

    def _checked_folder(self, path: str) -> str:
        folder = super()._checked_folder(path)
        if self.store is not None:
            self.store.location.key(folder, folder=True)  # the dataset's own limits (key length)
        return folder

    @traitlets.observe("store")
    def _on_store(self, _: dict[str, Any]) -> None:
        with self._lock:
            self._shown_path = ""
            self.table.show([])
        self._render_crumbs()
        self.refresh()

    def refresh(self) -> None:
        self._hide_confirm()
        super().refresh()

    def _on_action(self, action: str, names: list[str], value: str | None) -> None:
        super()._on_action(action, names, value)
        if action == "mkdir" and value:
            self._work.run(lambda: self.mkdir(value))
        elif action == "rename" and len(names) == 1 and value:
            self._work.run(lambda: self.rename(names[0], value))
        elif action == "delete":
            self.selected = [self._shown_path + name for name in names]
            self.ask_delete()

    # -- changing the folder -----------------------------------------------------------------

    def mkdir(self, name: str) -> None:
        if self.store is None:
            return
        name = name.strip().strip("/")
        if not name:
            self.status.show("Type a name for the new folder first.", "warning")
            return
        created = self.store.mkdir(self.path + name)
        self.status.show(f"Created {created}.", "ok")
        self.refresh()

    def rename(self, name: str, new_name: str) -> None:
        """Rename ``name`` (a row of the folder shown; folders end in ``/``) to ``new_name``."""
        if self.store is None:
            return
        report = self.store.rename(self._shown_path + name, new_name)
        if report.ok:
            self.status.show(f"Renamed {name.rstrip('/')} to {new_name}.", "ok")
        else:
            self.status.show(report.summary(), "error")
        self.refresh()

    def ask_delete(self) -> None:
        """Show what the selection's deletion takes, with its size (folders counted in the background)."""
        keys = self.selected
        if not keys:
            self.status.show("Select what to delete first.", "warning")
            return
        if self.path == "" and METADATA_FILE in keys:
            self.status.show(f"{METADATA_FILE} belongs to Provena and cannot be deleted here.", "error")
            return
        self._to_delete = keys
        files = [self.table.entry(key[len(self._shown_path) :]) for key in keys if not key.endswith("/")]
        size = sum(entry.size for entry in files if entry is not None)
        folders = [key for key in keys if key.endswith("/")]
        self.confirm_text.value = delete_question(keys, size, counted=not folders)
        self.confirm.layout.display = "flex"
        if folders and self.store is not None:
            store = self.store
            self._work.run(lambda: self._count(store, keys, folders, size))

    def _count(self, store: DatasetStore, keys: list[str], folders: list[str], size: int) -> None:
        total = size + sum(entry.size for folder in folders for entry in store.walk(folder))
        if self._to_delete == keys:
            self.confirm_text.value = delete_question(keys, total, counted=True)

    def confirm_delete(self) -> list[str]:
        assert self.store is not None
        keys, self._to_delete = self._to_delete, []
        self._hide_confirm()
        removed = self.store.delete(keys)
        self.status.show(f"Deleted {len(removed)} file(s).", "ok")
        self.refresh()
        return removed

    def _hide_confirm(self) -> None:
        self.confirm.layout.display = "none"
