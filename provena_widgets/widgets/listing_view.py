"""What the folder browsers show, as pure functions: filter, sort, pages, breadcrumbs, questions."""

from __future__ import annotations

import fnmatch
import html
from collections.abc import Iterable, Sequence
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


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages ``total`` rows fill (at least one, empty)."""
    return max(1, -(-total // size))


def clamp_page(index: int, total: int, size: int = PAGE_SIZE) -> int:
    """The nearest page index that exists for ``total`` rows."""
    return min(max(index, 0), page_count(total, size) - 1)


def delete_question(keys: Sequence[str], size: int, counted: bool) -> str:
    """The confirmation before deleting ``keys``: what goes (the first 20) and how much in all."""
    items = "".join(
        f"<li>{html.escape(key)}{' (and everything in it)' if key.endswith('/') else ''}</li>"
        for key in keys[:20]
    )
    more = f"<li>... and {len(keys) - 20} more</li>" if len(keys) > 20 else ""
    total = "in all." if counted else "in files; counting what the folders hold..."
    return f"<b>Delete {len(keys)} item(s) for good?</b> {format_bytes(size)} {total}<ul>{items}{more}</ul>"


def folder_summary(count: int, place: str) -> str:
    """``"3 items in data/."``"""
    return f"{count} item{'s' if count != 1 else ''} in {place}."
