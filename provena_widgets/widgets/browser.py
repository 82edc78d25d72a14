"""RemoteBrowser: the dataset folder as a file table, locked to the dataset's root."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

from ..errors import InvalidPath
from ..location import METADATA_FILE
from ..store import DatasetStore, Entry
from ..transfer.handle import Transfer
from .common import Background, NeedsInput, button, friendly, toolbar
from .file_details import FolderPrompt, paths_html, properties_html
from .folder_browser import FolderBrowser
from .listing_view import delete_question, folder_path, parent_folder
from .quicklook import QuickLook

Runner = Callable[[str, Callable[..., Transfer]], Transfer]
REMOTE_ACTIONS = [
    "open", "up", "download", "upload", "rename", "move", "copy", "mkdir", "delete", "copy_path",
    "properties",
]  # fmt: skip


class RemoteBrowser(FolderBrowser):
    """Browse the dataset folder: breadcrumbs, Up, sort, glob filter, quick look, New folder,
    Rename, Move to…, Copy to…, Delete, Copy path and Properties.

    ``path`` and ``selected`` are dataset-relative (see :class:`FolderBrowser` for every trait);
    ``store`` is the connected :class:`DatasetStore`. The table's actions reach
    ``browser.table.on_action`` callbacks; all but Download and Upload here (the transfer panel's)
    are handled here. Selecting one file shows its quick look. ``transfer_runner`` (set by a
    :class:`TransferPanel`) runs moves and copies with progress; without one they run quietly.
    """

    store = traitlets.Instance(DatasetStore, allow_none=True)

    def __init__(self, store: DatasetStore | None = None, **kwargs: Any) -> None:
        self._to_delete: list[str] = []
        self.confirm = widgets.VBox(layout=widgets.Layout(display="none"))
        self.confirm.add_class("provena-confirm")
        self.confirm_text = widgets.HTML()
        self.confirm_button = button("Delete them", "provena-confirm-delete", style="danger")
        self.keep_button = button("Keep them", "provena-confirm-cancel")
        self.confirm.children = [self.confirm_text, toolbar(self.confirm_button, self.keep_button)]
        self.quicklook = QuickLook()
        self.prompt = FolderPrompt(self.send_to, lambda exc: self.status.show(friendly(exc), "error"))
        self.transfer_runner: Runner | None = None
        self._looked = 0  # bumped by each quick look; an older one's answer is dropped
        super().__init__([self.prompt, self.confirm], side=(self.quicklook,), **kwargs)
        self._preview_work = Background(self.status, "preview")
        self.table.actions = REMOTE_ACTIONS
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

    def wait(self, timeout: float | None = 60) -> None:
        super().wait(timeout)
        self._preview_work.wait(timeout)

    @traitlets.observe("selected")
    def _look(self, change: dict[str, Any]) -> None:
        chosen = change["new"]
        if len(chosen) == 1 and not chosen[0].endswith("/"):
            self.quick_look(chosen[0])
        else:
            self._looked += 1
            self.quicklook.clear()

    def _paths_html(self, path: str) -> str:
        assert self.store is not None
        return paths_html(path, self.store.url(path))

    def _open_file(self, path: str) -> None:
        self.quick_look(path)

    def _on_action(self, action: str, names: list[str], value: str | None) -> None:
        super()._on_action(action, names, value)
        if action in ("move", "copy") and names:
            self.prompt.ask(action, self.paths_of(names), self.path)
        elif action == "properties" and names:
            self.show_properties(self.paths_of(names)[0])
        elif action == "mkdir" and value:
            self._work.run(lambda: self.mkdir(value))
        elif action == "rename" and len(names) == 1 and value:
            self._work.run(lambda: self.rename(names[0], value))
        elif action == "delete":
            self.selected = [self._shown_path + name for name in names]
            self.ask_delete()

    # -- looking at files --------------------------------------------------------------------

    def quick_look(self, path: str) -> None:
        """Show the preview of the file ``path`` beside the table (its first MiB at most)."""
        store = self.store
        if store is None:
            return
        self._looked += 1
        looked = self._looked
        self.quicklook.loading(path)

        def fetch() -> None:
            if looked != self._looked:
                return  # another file was chosen before this one's turn
            try:
                preview = store.preview(path)
            except Exception:
                self.quicklook.clear()
                raise
            if looked == self._looked:
                self.quicklook.show(preview)

        self._preview_work.run(fetch)

    def show_properties(self, path: str) -> None:
        """Properties of ``path``; a folder's objects and size are counted in the background."""
        store = self.store
        if store is None:
            return
        self.details.show("Properties", properties_html(None, path, counting=path.endswith("/")))
        title = f"Properties of {path.rstrip('/').rpartition('/')[2] or store.location.name}"

        def read() -> None:
            props = store.properties(path)
            self.details.show(title, properties_html(props, path))

        self._details_work.run(read)

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

    def send_to(self, verb: str, keys: list[str], folder: str) -> None:
        """Move (``verb="move"``) or copy dataset paths ``keys`` into the dataset folder ``folder``:
        through the transfer panel when there is one; raises for a folder that cannot take them."""
        store = self.store
        if store is None:
            raise NeedsInput("Not connected: enter credentials and press Connect first.")
        target = folder_path(folder)
        store.location.key(target, folder=True)  # the dataset's own limits
        for key in keys:
            if key.endswith("/") and target.startswith(key):
                raise InvalidPath(f"{key} cannot go into itself: choose a folder outside it.")
        if verb == "move" and all(parent_folder(key) == target for key in keys):
            raise NeedsInput(f"Already in {target or 'the top folder'}: type another folder.")
        start = store.start_move if verb == "move" else store.start_copy
        if self.transfer_runner is not None:
            self.transfer_runner(verb, lambda **options: start(keys, target, **options))
            return

        def run() -> None:
            report = start(keys, target, progress=None).wait()
            self.status.show(report.summary(), "ok" if report.ok else "warning")
            self.refresh()

        self._work.run(run)

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
