"""What the dataset browser shows, as pure functions: filter, sort, pages, rows, breadcrumbs."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..location import split_relative
from ..store import Entry
from ..units import format_bytes

SortKey = Literal["name", "size", "modified"]
SORT_KEYS: tuple[SortKey, ...] = ("name", "size", "modified")
PAGE_SIZE = 200


def folder_path(path: str) -> str:
    """``"data"`` and ``"data/"`` -> ``"data/"``, the root -> ``""``; raises for paths leaving the dataset."""
    parts = split_relative(path)
    return "/".join(parts) + "/" if parts else ""


def parent_folder(path: str) -> str:
    """The folder above ``path`` (``""`` for the root and its children)."""
    parent = path.rstrip("/").rpartition("/")[0]
    return parent + "/" if parent else ""


def crumbs(root_name: str, path: str) -> list[tuple[str, str]]:
    """``(label, folder)`` for each step from the dataset root down to ``path``."""
    parts = [part for part in path.split("/") if part]
    return [(root_name, "")] + [
        (part, "/".join(parts[: depth + 1]) + "/") for depth, part in enumerate(parts)
    ]


def filter_entries(entries: Iterable[Entry], pattern: str) -> list[Entry]:
    """The entries whose name matches the glob ``pattern`` (case-insensitive; blank keeps all)."""
    glob = pattern.strip().casefold()
    if not glob:
        return list(entries)
    return [entry for entry in entries if fnmatch.fnmatchcase(entry.name.casefold(), glob)]


def sort_entries(entries: Iterable[Entry], key: SortKey, descending: bool = False) -> list[Entry]:
    """Folders first, then files, each ordered by ``key``."""

    def order(entry: Entry) -> str | int | float:
        if key == "size":
            return entry.size
        if key == "modified":
            return entry.modified.timestamp() if entry.modified else 0.0
        return entry.name.casefold()

    listed = list(entries)
    folders = sorted((e for e in listed if e.is_dir), key=order, reverse=descending)
    files = sorted((e for e in listed if not e.is_dir), key=order, reverse=descending)
    return folders + files


@dataclass(frozen=True)
class Page:
    """One page of a listing: its (clamped) index, how many pages there are, and its rows."""

    index: int
    count: int
    start: int
    rows: tuple[Entry, ...]
    total: int

    @property
    def is_first(self) -> bool:
        return self.index == 0

    @property
    def is_last(self) -> bool:
        return self.index >= self.count - 1

    def label(self, loading: bool = False) -> str:
        """``"1–200 of 450"``, with a note while more entries are arriving."""
        first = self.start + 1 if self.rows else 0
        more = " (loading more...)" if loading else ""
        return f"{first}–{self.start + len(self.rows)} of {self.total}{more}"


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages ``total`` rows fill (at least one, empty)."""
    return max(1, -(-total // size))


def clamp_page(index: int, total: int, size: int = PAGE_SIZE) -> int:
    """The nearest page index that exists for ``total`` rows."""
    return min(max(index, 0), page_count(total, size) - 1)


def page_of(entries: Sequence[Entry], index: int, size: int = PAGE_SIZE) -> Page:
    """Page ``index`` of ``entries`` (clamped to the pages that exist)."""
    index = clamp_page(index, len(entries), size)
    start = index * size
    rows = tuple(entries[start : start + size])
    return Page(index, page_count(len(entries), size), start, rows, len(entries))


def format_row(entry: Entry) -> str:
    """One table row: a folder mark, the name, the size and the modification time, in columns."""
    icon = "▸" if entry.is_dir else " "  # plain glyphs: emoji fonts are often missing
    name = entry.name + ("/" if entry.is_dir else "")
    size = "" if entry.is_dir else format_bytes(entry.size)
    modified = entry.modified.strftime("%Y-%m-%d %H:%M") if entry.modified else ""
    return f"{icon} {name[:60]:<60} {size:>10}  {modified}"


def sort_caption(key: SortKey, active: SortKey, descending: bool) -> str:
    """A sort button's text: its key, with an arrow on the active one."""
    arrow = (" ▼" if descending else " ▲") if key == active else ""
    return key.capitalize() + arrow


def folder_summary(count: int, path: str) -> str:
    """``"3 items in data/."``"""
    return f"{count} item{'s' if count != 1 else ''} in {path or 'the dataset folder'}."
