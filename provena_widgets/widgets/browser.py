"""RemoteBrowser: the dataset folder as a sortable, filterable, paged table, locked to its root."""

from __future__ import annotations

import fnmatch
import html
import threading
from typing import Any, Literal

import ipywidgets as widgets
import traitlets

from ..location import METADATA_FILE
from ..store import DatasetStore, Entry
from ..units import format_bytes
from .common import Background, StatusLine, button

SortKey = Literal["name", "size", "modified"]
PAGE_SIZE = 200
_STYLE = widgets.HTML(
    "<style>.provena-table select{font-family:var(--jp-code-font-family,monospace);font-size:12px}</style>"
)


def format_row(entry: Entry) -> str:
    icon = "▸" if entry.is_dir else " "  # plain glyphs: emoji fonts are often missing
    name = entry.name + ("/" if entry.is_dir else "")
    size = "" if entry.is_dir else format_bytes(entry.size)
    modified = entry.modified.strftime("%Y-%m-%d %H:%M") if entry.modified else ""
    return f"{icon} {name[:60]:<60} {size:>10}  {modified}"


class RemoteBrowser(widgets.VBox):
    """Browse the dataset folder: breadcrumbs, up, sort, glob filter, pages, new folder, delete.

    ``path`` is the current folder (dataset-relative, ``""`` is the root); ``selected`` the
    dataset-relative keys chosen in the table (folders end with ``/``).
    """

    store = traitlets.Instance(DatasetStore, allow_none=True)
    path = traitlets.Unicode("")

    def __init__(self, store: DatasetStore | None = None, **kwargs: Any) -> None:
        self.status = StatusLine()
        self._work = Background(self.status, "browse")
        self._entries: list[Entry] = []
        self._loading = False
        self._generation = 0
        self._lock = threading.Lock()
        self.sort_key: SortKey = "name"
        self.sort_reverse = False
        self.page = 0

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
            for key in ("name", "size", "modified")
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
        self._to_delete: list[str] = []

        self.up_button.on_click(lambda _: self.up())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.open_button.on_click(lambda _: self.open_selected())
        self.filter.observe(lambda _: self._render(reset_page=True), names="value")
        for key, sort_button in self.sort_buttons.items():
            sort_button.on_click(lambda _, k=key: self.sort_by(k))
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(1))
        self.mkdir_button.on_click(lambda _: self._work.run(lambda: self.mkdir(self.folder_name.value)))
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_button.on_click(lambda _: self._work.run(self.confirm_delete))
        self.keep_button.on_click(lambda _: self._hide_confirm())
        self.table.observe(self._on_select, names="value")

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
        self.observe(lambda _: self.refresh(), names="store")
        self.store = store

    # -- state for code ----------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """The loaded entries of the current folder, filtered and sorted as shown."""
        pattern = self.filter.value.strip()
        with self._lock:
            entries = list(self._entries)
        if pattern:
            entries = [e for e in entries if fnmatch.fnmatch(e.name.casefold(), pattern.casefold())]

        def order(entry: Entry) -> Any:
            if self.sort_key == "size":
                return entry.size
            if self.sort_key == "modified":
                return entry.modified.timestamp() if entry.modified else 0.0
            return entry.name.casefold()

        folders = sorted((e for e in entries if e.is_dir), key=order, reverse=self.sort_reverse)
        files = sorted((e for e in entries if not e.is_dir), key=order, reverse=self.sort_reverse)
        return folders + files

    @property
    def selected(self) -> list[str]:
        return list(self.table.value)

    @selected.setter
    def selected(self, keys: list[str]) -> None:
        shown = {value for _, value in self.table.options}
        self.table.value = tuple(key for key in keys if key in shown)

    def wait(self, timeout: float | None = 60) -> None:
        """Wait until loading and actions started from the UI are done."""
        self._work.wait(timeout)

    # -- navigation --------------------------------------------------------------------------

    def open_folder(self, path: str) -> None:
        """Show the folder ``path`` (dataset-relative)."""
        if self.store is not None:
            self.store.location.key(path, folder=True)  # refuses paths outside the dataset
        self.path = path.strip("/") + "/" if path.strip("/") else ""
        self.refresh()

    def up(self) -> None:
        parent = self.path.rstrip("/").rpartition("/")[0]
        self.open_folder(parent)

    def open_selected(self) -> None:
        folders = [key for key in self.selected if key.endswith("/")]
        if len(folders) != 1:
            self.status.show("Select one folder to open.", "warning")
            return
        self.open_folder(folders[0])

    def refresh(self) -> None:
        """Reload the current folder in the background; the first page shows as soon as it arrives."""
        self._render_crumbs()
        self._hide_confirm()
        if self.store is None:
            self.status.show("Not connected: enter credentials and press Connect.", "info")
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._entries = []
        self.page = 0
        self._render()
        self._work.run(lambda: self._load(generation))

    def _load(self, generation: int) -> None:
        assert self.store is not None
        self._loading = True
        self.status.show(f"Loading {self.path or 'the dataset folder'}...", "info")
        try:
            for page in self.store.iter_pages(self.path):
                with self._lock:
                    if generation != self._generation:
                        return
                    self._entries.extend(page)
                self._render()
        finally:
            self._loading = False
        count = len(self._entries)
        self.status.show(
            f"{count} item{'s' if count != 1 else ''} in {self.path or 'the dataset folder'}.", "ok"
        )
        self._render()

    def sort_by(self, key: SortKey) -> None:
        self.sort_reverse = not self.sort_reverse if self.sort_key == key else False
        self.sort_key = key
        for name, sort_button in self.sort_buttons.items():
            arrow = (" ▼" if self.sort_reverse else " ▲") if name == key else ""
            sort_button.description = name.capitalize() + arrow
        self._render()

    def _turn(self, step: int) -> None:
        self.page += step
        self._render()

    def _render(self, reset_page: bool = False) -> None:
        entries = self.entries
        pages = max(1, -(-len(entries) // PAGE_SIZE))
        self.page = 0 if reset_page else min(max(self.page, 0), pages - 1)
        start = self.page * PAGE_SIZE
        shown = entries[start : start + PAGE_SIZE]
        keep = [key for key in self.table.value if any(e.key == key for e in shown)]
        self.table.options = [(format_row(e), e.key) for e in shown]
        self.table.value = tuple(keep)
        more = " (loading more...)" if self._loading else ""
        self.page_label.value = f"{start + 1 if shown else 0}–{start + len(shown)} of {len(entries)}{more}"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1

    def _render_crumbs(self) -> None:
        name = self.store.location.name if self.store is not None else "dataset"
        parts = [p for p in self.path.split("/") if p]
        crumbs = []
        for depth, label in enumerate([name, *parts]):
            target = "/".join(parts[:depth])
            crumb = button(label, "provena-crumb", tooltip=f"Open {target or 'the dataset folder'}")
            crumb.on_click(lambda _, t=target: self.open_folder(t))
            crumbs.append(crumb)
        self.crumbs.children = crumbs
        self.up_button.disabled = not parts

    def _on_select(self, change: dict[str, Any]) -> None:
        self.delete_button.disabled = not change["new"]

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
