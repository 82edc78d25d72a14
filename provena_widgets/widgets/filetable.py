"""FileTable: one folder's entries as a file manager's table, with its own front-end (anywidget).

The kernel keeps the entries and sorts and filters them; the page asks for the rows it scrolls to
(``{"type": "rows", "start", "count"}``) and gets them back in one reply each, so a folder of any
size costs the page only the rows in view. Row ids are names, folders ending in ``/``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..store import Entry
from ..units import format_bytes
from .listing_view import SORT_KEYS, filter_entries, sort_entries

ActionCallback = Callable[[str, list[str], str | None], None]
DropCallback = Callable[[str, list[str], str], None]
ACTIONS = (
    "open", "up", "download", "upload", "rename", "move", "copy", "mkdir", "delete", "copy_path",
    "properties",
)  # fmt: skip
MAX_ROWS = 500  # rows in one reply, whatever the page asks
_HERE = Path(__file__).parent / "table"


def row_id(entry: Entry) -> str:
    """The name a row goes by: folders end in ``/`` (a folder and a file may share a name in S3)."""
    return entry.name + "/" if entry.is_dir else entry.name


def row_data(entry: Entry) -> dict[str, Any]:
    """What the page shows of ``entry``; the time in ms since the epoch, for the browser's own zone."""
    modified = round(entry.modified.timestamp() * 1000) if entry.modified else None
    size = "" if entry.is_dir else format_bytes(entry.size)
    return {"id": row_id(entry), "dir": entry.is_dir, "size": size, "modified": modified}


class FileTable(anywidget.AnyWidget):
    """A sortable, filterable, virtually scrolled table of a folder's entries.

    Feed it with :meth:`show`. ``selected`` (row ids) follows the page both ways; ``sort_key``,
    ``sort_reverse`` and ``pattern`` order and filter it; ``total`` counts the rows shown.
    What people ask for (open, up, rename, delete, ...: :data:`ACTIONS`, of which ``actions`` are
    offered) reaches the callbacks given to :meth:`on_action`; rows dragged here, from this table
    or another, reach :meth:`on_drop`'s.
    """

    _esm = _HERE / "filetable.js"
    _css = _HERE / "filetable.css"

    total = traitlets.Int(0, read_only=True, help="rows after the filter").tag(sync=True)
    generation = traitlets.Int(0, read_only=True, help="bumped whenever the rows change").tag(sync=True)
    loading = traitlets.Bool(False, help="more entries are on their way").tag(sync=True)
    selected = traitlets.List(traitlets.Unicode(), help="the chosen rows' ids").tag(sync=True)
    sort_key = traitlets.Enum(SORT_KEYS, "name", help="name, size or modified").tag(sync=True)
    sort_reverse = traitlets.Bool(False, help="sort descending").tag(sync=True)
    pattern = traitlets.Unicode("", help="glob filter on names (blank shows all)")
    actions = traitlets.List(traitlets.Unicode(), list(ACTIONS), help="what the menu offers").tag(sync=True)
    table_id = traitlets.Unicode(read_only=True, help="names this table in drag and drop").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self._lock = threading.RLock()  # entries arrive on a loader's thread, requests on the kernel's
        self._entries: list[Entry] = []
        self._view: list[Entry] = []
        self._index: dict[str, int] = {}
        self._anchor = ""
        self._callbacks: list[ActionCallback] = []
        self._drop_callbacks: list[DropCallback] = []
        super().__init__(**kwargs)
        self.set_trait("table_id", uuid.uuid4().hex)
        self.add_class("provena-table")
        self.on_msg(self._on_msg)

    # -- for Python --------------------------------------------------------------------------

    @property
    def view(self) -> list[Entry]:
        """The entries as shown: filtered, then sorted (folders first)."""
        with self._lock:
            return list(self._view)

    def entry(self, name: str) -> Entry | None:
        """The shown entry with row id ``name``."""
        with self._lock:
            index = self._index.get(name)
            return None if index is None else self._view[index]

    def show(self, entries: Sequence[Entry]) -> None:
        """Show ``entries`` (all of them so far); the selection keeps what is still there."""
        with self._lock:
            self._entries = list(entries)
            self._rebuild()

    def rows(self, start: int, count: int) -> list[dict[str, Any]]:
        """Rows ``start`` to ``start + count`` as the page gets them (at most :data:`MAX_ROWS`)."""
        with self._lock:
            start = max(0, start)
            return [row_data(entry) for entry in self._view[start : start + min(count, MAX_ROWS)]]

    def scroll_to(self, index: int) -> None:
        """Scroll the page's table so row ``index`` is at the top."""
        self.send({"type": "scroll", "index": index})

    def on_action(self, callback: ActionCallback, remove: bool = False) -> None:
        """Call ``callback(action, names, value)`` for each action (``value``: a new name, or None)."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def on_drop(self, callback: DropCallback) -> None:
        """Call ``callback(source, names, folder)`` when rows of the table ``source`` (a
        ``table_id``, this one's or another's) are dropped here: onto the folder row ``folder``
        (its row id), or ``""`` for the folder shown."""
        self._drop_callbacks.append(callback)

    # -- state -------------------------------------------------------------------------------

    @traitlets.observe("sort_key", "sort_reverse", "pattern")
    def _on_order(self, _: dict[str, Any]) -> None:
        with self._lock:
            self._rebuild()

    @traitlets.validate("selected")
    def _shown_only(self, proposal: dict[str, Any]) -> list[str]:
        with self._lock:
            return [name for name in dict.fromkeys(proposal["value"]) if name in self._index]

    def _rebuild(self) -> None:
        view = sort_entries(filter_entries(self._entries, self.pattern), self.sort_key, self.sort_reverse)
        self._view, self._index = view, {row_id(entry): i for i, entry in enumerate(view)}
        with self.hold_sync():
            self.set_trait("total", len(view))
            self.set_trait("generation", self.generation + 1)
            self.selected = [name for name in self.selected if name in self._index]

    # -- from the page -----------------------------------------------------------------------

    def _on_msg(self, _: Any, content: dict[str, Any], buffers: list[bytes]) -> None:
        kind = content.get("type")
        if kind == "rows":
            start, count = int(content["start"]), int(content["count"])
            with self._lock:
                rows, generation = self.rows(start, count), self.generation
            self.send({"type": "rows", "start": start, "generation": generation, "rows": rows})
        elif kind == "select":
            self._select(int(content["index"]), str(content["mode"]))
        elif kind == "drop":
            names = [str(name) for name in content.get("names") or []]
            for dropped in list(self._drop_callbacks):
                dropped(str(content.get("source", "")), names, str(content.get("value") or ""))
        elif kind == "action" and content.get("action") in self.actions:
            value = content.get("value")
            names = [str(name) for name in content.get("names") or []]
            for callback in list(self._callbacks):
                callback(str(content["action"]), names, None if value is None else str(value))

    def _select(self, index: int, mode: str) -> None:
        """Click (``only``), Ctrl-click (``toggle``), Shift-click (``range``) or Ctrl+A (``all``)."""
        with self._lock:
            if not self._view:
                return
            index = min(max(index, 0), len(self._view) - 1)
            name = row_id(self._view[index])
            if mode == "all":
                self.selected = list(self._index)
            elif mode == "range":
                anchor = self._index.get(self._anchor, index)
                low, high = sorted((anchor, index))
                self.selected = [row_id(entry) for entry in self._view[low : high + 1]]
            elif mode == "toggle":
                self._anchor = name
                chosen = self.selected
                self.selected = [n for n in chosen if n != name] if name in chosen else [*chosen, name]
            else:
                self._anchor = name
                self.selected = [name]
