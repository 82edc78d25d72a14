"""RemoteBrowser: the dataset folder as a sortable, filterable, paged table, locked to its root."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
import traitlets

from ..errors import ProvenaWidgetsError
from ..location import METADATA_FILE
from ..store import DatasetStore, Entry
from .common import Background, StatusLine, button, friendly
from .listing_view import (
    SORT_KEYS,
    SortKey,
    clamp_page,
    crumbs,
    filter_entries,
    folder_path,
    folder_summary,
    format_row,
    page_of,
    parent_folder,
    sort_caption,
    sort_entries,
)

_STYLE = widgets.HTML(
    "<style>.provena-table select{font-family:var(--jp-code-font-family,monospace);font-size:12px}</style>"
)


class RemoteBrowser(widgets.VBox):
    """Browse the dataset folder: breadcrumbs, up, sort, glob filter, pages, new folder, delete.

    Its state is traits, to observe or link: ``path`` is the folder shown (dataset-relative,
    ``""`` is the root; setting it opens that folder, and a folder outside the dataset or missing
    shows the error and keeps the previous one), ``selected`` the dataset-relative keys chosen in
    the table (folders end with ``/``), ``sort_key``/``sort_reverse``, ``pattern`` (the glob
    filter), ``page`` and ``loading``.
    """

    store = traitlets.Instance(DatasetStore, allow_none=True)
    path = traitlets.Unicode("", help="the folder shown, dataset-relative; folders end in /")
    selected = traitlets.List(traitlets.Unicode(), help="the dataset-relative keys chosen in the table")
    sort_key = traitlets.Enum(SORT_KEYS, "name", help="name, size or modified")
    sort_reverse = traitlets.Bool(False, help="sort descending")
    pattern = traitlets.Unicode("", help="glob filter on names, like *.csv (blank shows all)")
    page = traitlets.Int(0, help="the page shown, from 0")
    loading = traitlets.Bool(False, read_only=True, help="a folder listing is arriving")

    def __init__(self, store: DatasetStore | None = None, **kwargs: Any) -> None:
        self.status = StatusLine()
        self._work = Background(self.status, "browse")
        self._lock = threading.RLock()  # entries, generation and drawing: loads run on another thread
        self._entries: list[Entry] = []
        self._shown_path = ""  # the folder whose entries are loaded (path may be ahead while loading)
        self._shown_count = 0
        self._generation = 0
        self._reverting = threading.local()
        self._to_delete: list[str] = []

        self.crumbs = widgets.HBox()
        self.crumbs.add_class("provena-crumbs")
        self.up_button = button("Up", "provena-up", icon="arrow-up")
        self.refresh_button = button("Refresh", "provena-refresh", icon="refresh")
        self.open_button = button(
            "Open", "provena-open", icon="folder-open", tooltip="Open the selected folder"
        )
        self.filter = widgets.Text(placeholder="filter, e.g. *.csv", layout=widgets.Layout(width="180px"))
        self.filter.add_class("provena-filter")
        self.sort_buttons = {
            key: button(key.capitalize(), f"provena-sort-{key}", tooltip=f"Sort by {key}")
            for key in SORT_KEYS
        }
        self.table = widgets.SelectMultiple(options=[], rows=14, layout=widgets.Layout(width="100%"))
        self.table.add_class("provena-table")
        self.prev_button = button("◀", "provena-prev", tooltip="Previous page")
        self.next_button = button("▶", "provena-next", tooltip="Next page")
        self.page_label = widgets.Label()
        self.page_label.add_class("provena-page")
        self.folder_name = widgets.Text(placeholder="new folder name", layout=widgets.Layout(width="180px"))
        self.folder_name.add_class("provena-folder-name")
        self.mkdir_button = button("New folder", "provena-mkdir", icon="folder")
        self.delete_button = button("Delete", "provena-delete", icon="trash", style="danger")
        self.delete_button.disabled = True  # until something is selected
        self.confirm = widgets.VBox(layout=widgets.Layout(display="none"))
        self.confirm.add_class("provena-confirm")
        self.confirm_text = widgets.HTML()
        self.confirm_button = button("Delete them", "provena-confirm-delete", style="danger")
        self.keep_button = button("Keep them", "provena-confirm-cancel")
        self.confirm.children = [self.confirm_text, widgets.HBox([self.confirm_button, self.keep_button])]

        self.up_button.on_click(lambda _: self.up())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.open_button.on_click(lambda _: self.open_selected())
        for key, sort_button in self.sort_buttons.items():
            sort_button.on_click(lambda _, k=key: self.sort_by(k))
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(1))
        self.mkdir_button.on_click(lambda _: self._work.run(lambda: self.mkdir(self.folder_name.value)))
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_button.on_click(lambda _: self._work.run(self.confirm_delete))
        self.keep_button.on_click(lambda _: self._hide_confirm())
        self.table.observe(lambda change: setattr(self, "selected", list(change["new"])), names="value")

        super().__init__(
            [
                _STYLE,
                widgets.HBox([self.up_button, self.crumbs]),
                widgets.HBox(
                    [self.refresh_button, self.open_button, self.filter, *self.sort_buttons.values()]
                ),
                self.table,
                widgets.HBox([self.prev_button, self.page_label, self.next_button]),
                widgets.HBox([self.folder_name, self.mkdir_button, self.delete_button]),
                self.confirm,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("provena-remote-browser")
        traitlets.link((self, "pattern"), (self.filter, "value"))
        self._render_crumbs()
        self._render()
        self.store = store

    # -- state for code ----------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """The loaded entries of the current folder, filtered and sorted as shown."""
        with self._lock:
            loaded = list(self._entries)
        return sort_entries(filter_entries(loaded, self.pattern), self.sort_key, self.sort_reverse)

    def wait(self, timeout: float | None = 60) -> None:
        """Wait until loading and actions started from the UI are done."""
        self._work.wait(timeout)

    @traitlets.validate("path")
    def _valid_path(self, proposal: dict[str, Any]) -> str:
        try:
            return self._checked_folder(proposal["value"])
        except ProvenaWidgetsError as exc:
            self.status.show(friendly(exc), "error")
            return self.path

    @traitlets.observe("path")
    def _on_path(self, _: dict[str, Any]) -> None:
        self._render_crumbs()
        if not getattr(self._reverting, "active", False):
            self.refresh()

    @traitlets.observe("store")
    def _on_store(self, _: dict[str, Any]) -> None:
        with self._lock:
            self._entries, self._shown_path = [], ""
        self._render_crumbs()
        self._render()
        self.refresh()

    @traitlets.validate("selected")
    def _shown_only(self, proposal: dict[str, Any]) -> list[str]:
        shown = {key for _, key in self.table.options}
        return [key for key in proposal["value"] if key in shown]

    @traitlets.observe("selected")
    def _on_selected(self, change: dict[str, Any]) -> None:
        self.table.value = tuple(change["new"])
        self.delete_button.disabled = not change["new"]

    @traitlets.validate("page")
    def _existing_page(self, proposal: dict[str, Any]) -> int:
        return clamp_page(proposal["value"], self._shown_count)

    @traitlets.observe("pattern")
    def _on_pattern(self, _: dict[str, Any]) -> None:
        self.page = 0
        self._render()

    @traitlets.observe("sort_key", "sort_reverse")
    def _on_sort(self, _: dict[str, Any]) -> None:
        for key, sort_button in self.sort_buttons.items():
            sort_button.description = sort_caption(key, self.sort_key, self.sort_reverse)
        self._render()

    @traitlets.observe("page", "loading")
    def _on_page_or_loading(self, _: dict[str, Any]) -> None:
        self._render()

    # -- navigation --------------------------------------------------------------------------

    def _checked_folder(self, path: str) -> str:
        """``path`` as a folder path (``"data/"``); raises if it leads outside the dataset."""
        folder = folder_path(path)
        if self.store is not None:
            self.store.location.key(folder, folder=True)  # the dataset's own limits (key length)
        return folder

    def open_folder(self, path: str) -> None:
        """Show the folder ``path`` (dataset-relative); raises for paths outside the dataset."""
        folder = self._checked_folder(path)
        if folder == self.path:
            self.refresh()
        else:
            self.path = folder

    def up(self) -> None:
        self.open_folder(parent_folder(self.path))

    def open_selected(self) -> None:
        folders = [key for key in self.selected if key.endswith("/")]
        if len(folders) != 1:
            self.status.show("Select one folder to open.", "warning")
            return
        self.open_folder(folders[0])

    def refresh(self) -> None:
        """Reload the current folder in the background; the first page shows as soon as it arrives."""
        self._hide_confirm()
        if self.store is None:
            self.status.show("Not connected: enter credentials and press Connect.", "info")
            return
        with self._lock:
            self._generation += 1
            generation, path = self._generation, self.path
        self.status.show(f"Loading {path or 'the dataset folder'}...", "info")
        self._work.run(lambda: self._load(generation, path), on_error=lambda _: self._revert(generation))

    def _load(self, generation: int, path: str) -> None:
        """List ``path``; its entries replace the shown ones when its first page arrives."""
        store = self.store
        if store is None or generation != self._generation:
            return  # a newer navigation took over before this one started
        self.set_trait("loading", True)
        try:
            arrived = False
            for page in store.iter_pages(path):
                if not self._take(generation, path, page, first=not arrived):
                    return
                arrived = True
            if not arrived and not self._take(generation, path, [], first=True):
                return
        finally:
            self.set_trait("loading", False)
        with self._lock:
            if generation == self._generation:
                self.status.show(folder_summary(len(self._entries), path), "ok")

    def _take(self, generation: int, path: str, page: list[Entry], first: bool) -> bool:
        """Add a page of ``path``'s listing, unless a newer navigation took over (then ``False``)."""
        with self._lock:
            if generation != self._generation:
                return False
            if first:
                self._entries, self._shown_path = [], path
            self._entries.extend(page)
            if first:
                self.page = 0
            self._render()
        return True

    def _revert(self, generation: int) -> None:
        """After a failed load, ``path`` goes back to the folder still shown (unless navigated on)."""
        with self._lock:
            if generation != self._generation or self.path == self._shown_path:
                return
            self._reverting.active = True
            try:
                self.path = self._shown_path
            finally:
                self._reverting.active = False

    def sort_by(self, key: SortKey) -> None:
        """Sort by ``key``; the same key again flips the direction."""
        with self.hold_trait_notifications():
            self.sort_reverse = not self.sort_reverse if self.sort_key == key else False
            self.sort_key = key

    def _turn(self, step: int) -> None:
        self.page += step

    def _render(self) -> None:
        with self._lock:
            entries = self.entries
            self._shown_count = len(entries)
            page = page_of(entries, self.page)
            shown = {entry.key for entry in page.rows}
            keep = tuple(key for key in self.table.value if key in shown)
            self.table.options = [(format_row(entry), entry.key) for entry in page.rows]
            self.table.value = keep
            self.page_label.value = page.label(self.loading)
            self.prev_button.disabled = page.is_first
            self.next_button.disabled = page.is_last
            self.page = page.index

    def _render_crumbs(self) -> None:
        name = self.store.location.name if self.store is not None else "dataset"
        made = []
        for label, target in crumbs(name, self.path):
            crumb = button(label, "provena-crumb", tooltip=f"Open {target or 'the dataset folder'}")
            crumb.on_click(lambda _, t=target: self.open_folder(t))
            made.append(crumb)
        self.crumbs.children = made
        self.up_button.disabled = not self.path

    # -- changing the folder -----------------------------------------------------------------

    def mkdir(self, name: str) -> None:
        if self.store is None:
            return
        name = name.strip().strip("/")
        if not name:
            self.status.show("Type a name for the new folder first.", "warning")
            return
        created = self.store.mkdir(self.path + name)
        self.folder_name.value = ""
        self.status.show(f"Created {created}.", "ok")
        self.refresh()

    def ask_delete(self) -> None:
        keys = self.selected
        if not keys:
            self.status.show("Select what to delete first.", "warning")
            return
        if self.path == "" and METADATA_FILE in keys:
            self.status.show(f"{METADATA_FILE} belongs to Provena and cannot be deleted here.", "error")
            return
        self._to_delete = keys
        items = "".join(
            f"<li>{html.escape(key)}{' (and everything in it)' if key.endswith('/') else ''}</li>"
            for key in keys[:20]
        )
        more = f"<li>... and {len(keys) - 20} more</li>" if len(keys) > 20 else ""
        self.confirm_text.value = f"<b>Delete {len(keys)} item(s) for good?</b><ul>{items}{more}</ul>"
        self.confirm.layout.display = "flex"

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
