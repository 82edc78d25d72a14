"""FolderBrowser: what the dataset and local panes share: breadcrumbs, Up, filter, the file table."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

from ..errors import ProvenaWidgetsError
from ..store import Entry
from .common import Background, StatusLine, button, friendly, toolbar
from .file_details import DetailsBox
from .filetable import FileTable
from .listing_view import (
    PAGE_SIZE,
    SORT_KEYS,
    SortKey,
    clamp_page,
    crumbs,
    folder_path,
    folder_summary,
    parent_folder,
)

SHOW_EVERY = 0.5  # seconds between showing more of a folder that is still being listed


class FolderBrowser(widgets.VBox):
    """A folder as a file table, locked to a root; subclasses say how to list and what the root is.

    Its state is traits, to observe or link: ``path`` is the folder shown (relative to the root,
    ``""`` is the root; setting it opens that folder, and one outside the root or missing shows
    the error and keeps the previous one), ``selected`` the root-relative paths chosen in the
    table (folders end with ``/``), ``sort_key``/``sort_reverse``, ``pattern`` (the glob filter),
    ``page`` (scrolls the table to that block of 200 rows) and ``loading``.
    """

    path = traitlets.Unicode("", help="the folder shown, relative to the root; folders end in /")
    selected = traitlets.List(traitlets.Unicode(), help="the root-relative paths chosen in the table")
    sort_key = traitlets.Enum(SORT_KEYS, "name", help="name, size or modified")
    sort_reverse = traitlets.Bool(False, help="sort descending")
    pattern = traitlets.Unicode("", help="glob filter on names, like *.csv (blank shows all)")
    page = traitlets.Int(0, help="the block of 200 rows scrolled to, from 0")
    loading = traitlets.Bool(False, read_only=True, help="a folder listing is arriving")

    def __init__(
        self, children: list[widgets.Widget], side: tuple[widgets.Widget, ...] = (), **kwargs: Any
    ) -> None:
        self.status = StatusLine()
        self._work = Background(self.status, "browse")
        self._details_work = Background(self.status, "details")  # slow counts never block browsing
        self._lock = threading.RLock()  # generation and the shown folder: loads run on another thread
        self._shown_path = ""  # the folder whose entries are shown (path may be ahead while loading)
        self._generation = 0
        self._reverting = threading.local()

        self.crumbs = toolbar(css="provena-crumbs")
        self.crumbs.layout.width = "auto"
        self.crumbs.layout.flex = "1 1 auto"
        self.up_button = button("Up", "provena-up", icon="arrow-up")
        self.refresh_button = button("Refresh", "provena-refresh", icon="refresh")
        self.filter = widgets.Text(placeholder="filter, e.g. *.csv", layout=widgets.Layout(width="160px"))
        self.filter.add_class("provena-filter")
        self.table = FileTable(layout=widgets.Layout(flex="3 1 320px", min_width="0"))
        self.details = DetailsBox()
        self.up_button.on_click(lambda _: self.up())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.table.observe(self._from_table, names="selected")
        self.table.on_action(self._on_action)
        super().__init__(
            [
                toolbar(self.up_button, self.refresh_button, self.filter, self.crumbs),
                widgets.HBox(
                    [self.table, *side],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", grid_gap="8px"),
                ),
                *children,
                self.details,
                self.status,
            ],
            **kwargs,
        )
        for name in ("sort_key", "sort_reverse", "pattern"):
            traitlets.link((self, name), (self.table, name))
        traitlets.link((self, "pattern"), (self.filter, "value"))
        traitlets.dlink((self, "loading"), (self.table, "loading"))

    # -- what each kind of browser says ------------------------------------------------------

    def _root_name(self) -> str:
        raise NotImplementedError

    def _where(self, path: str) -> str:
        """``path`` in words, for status lines."""
        return path or self._root_name()

    def _not_ready(self) -> str:
        """Why nothing can be listed yet ("" when it can)."""
        return ""

    def _listing(self, path: str) -> Iterator[list[Entry]]:
        """``path``'s entries, a page at a time."""
        raise NotImplementedError

    def _checked_folder(self, path: str) -> str:
        """``path`` as a folder path (``"data/"``); raises if it leads outside the root."""
        return folder_path(path)

    # -- state for code ----------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """The loaded entries of the current folder, filtered and sorted as shown."""
        return self.table.view

    def paths_of(self, names: list[str]) -> list[str]:
        """The root-relative paths of rows ``names`` of the folder shown."""
        return [self._shown_path + name for name in names]

    def wait(self, timeout: float | None = 60) -> None:
        """Wait until loading and actions started from the UI are done."""
        self._work.wait(timeout)
        self._details_work.wait(timeout)

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

    @traitlets.validate("selected")
    def _shown_only(self, proposal: dict[str, Any]) -> list[str]:
        folder = self._shown_path
        return [
            key
            for key in proposal["value"]
            if key.startswith(folder) and self.table.entry(key[len(folder) :]) is not None
        ]

    @traitlets.observe("selected")
    def _on_selected(self, change: dict[str, Any]) -> None:
        self.table.selected = [key[len(self._shown_path) :] for key in change["new"]]

    def _from_table(self, change: dict[str, Any]) -> None:
        self.selected = [self._shown_path + name for name in change["new"]]

    @traitlets.validate("page")
    def _existing_page(self, proposal: dict[str, Any]) -> int:
        return clamp_page(proposal["value"], self.table.total)

    @traitlets.observe("page")
    def _on_page(self, change: dict[str, Any]) -> None:
        self.table.scroll_to(change["new"] * PAGE_SIZE)

    # -- navigation --------------------------------------------------------------------------

    def open_folder(self, path: str) -> None:
        """Show the folder ``path`` (root-relative); raises for paths outside the root."""
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

    def sort_by(self, key: SortKey) -> None:
        """Sort by ``key``; the same key again flips the direction."""
        with self.hold_trait_notifications():
            self.sort_reverse = not self.sort_reverse if self.sort_key == key else False
            self.sort_key = key

    def refresh(self) -> None:
        """Reload the current folder in the background; the first entries show as soon as they arrive."""
        reason = self._not_ready()
        if reason:
            self.status.show(reason, "info")
            return
        with self._lock:
            self._generation += 1
            generation, path = self._generation, self.path
        self.status.show(f"Loading {self._where(path)}...", "info")
        self._work.run(lambda: self._load(generation, path), on_error=lambda _: self._revert(generation))

    def _load(self, generation: int, path: str) -> None:
        """List ``path``; its entries replace the shown ones when its first page arrives."""
        if generation != self._generation:
            return  # a newer navigation took over before this one started
        self.set_trait("loading", True)
        try:
            entries: list[Entry] = []
            shown_at = None
            for page in self._listing(path):
                entries.extend(page)
                if shown_at is None or time.monotonic() - shown_at > SHOW_EVERY:
                    if not self._show(generation, path, entries):
                        return
                    shown_at = time.monotonic()
            if not self._show(generation, path, entries):
                return
        finally:
            self.set_trait("loading", False)
        self.status.show(folder_summary(len(entries), self._where(path)), "ok")

    def _show(self, generation: int, path: str, entries: list[Entry]) -> bool:
        """Show ``path``'s entries so far, unless a newer navigation took over (then ``False``)."""
        with self._lock:
            if generation != self._generation:
                return False
            if path != self._shown_path:
                self.table.selected = []
                self._shown_path = path
                self.page = 0
            self.table.show(entries)
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

    def _render_crumbs(self) -> None:
        made = []
        for label, target in crumbs(self._root_name(), self.path):
            crumb = button(label, "provena-crumb", tooltip=f"Open {target or label}")
            crumb.on_click(lambda _, t=target: self.open_folder(t))
            made.append(crumb)
        self.crumbs.children = made
        self.up_button.disabled = not self.path

    def _on_action(self, action: str, names: list[str], value: str | None) -> None:
        """Open and Up; subclasses add the rest."""
        if action == "up" and self.path:
            self.up()
        elif action == "open" and len(names) == 1 and names[0].endswith("/"):
            self.open_folder(self._shown_path + names[0])
        elif action == "open" and len(names) == 1:
            self._open_file(self._shown_path + names[0])
        elif action == "copy_path" and names:
            self.details.show("Copy path", self._paths_html(self.paths_of(names)[0]))

    def _open_file(self, path: str) -> None:
        """What opening (double-click, Enter) the file ``path`` does; nothing by default."""

    def _paths_html(self, path: str) -> str:
        """The box Copy path shows for ``path``."""
        raise NotImplementedError
