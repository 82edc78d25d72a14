"""Listings of the dataset folder: every request pages through here, every row is parsed once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import NotFound
from ..location import DatasetLocation
from ..s3objects import ListedObject
from .connection import Connection


@dataclass(frozen=True)
class Entry:
    """One row of a folder listing. ``key`` is relative to the dataset folder (folders end in /)."""

    name: str
    key: str
    is_dir: bool
    size: int
    modified: datetime | None
    etag: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of a listing: its objects, and its sub-folder prefixes (with a delimiter)."""

    objects: list[ListedObject]
    prefixes: list[str]


def pages(connection: Connection, path: str, **options: Any) -> Iterator[Page]:
    """``list_objects_v2`` pages in the dataset's bucket; a failure is said about ``path``."""
    paginator = connection.client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=connection.location.bucket, **options):
            yield Page(
                [ListedObject.from_row(row) for row in page.get("Contents", [])],
                [str(common.get("Prefix", "")) for common in page.get("CommonPrefixes", [])],
            )
    except Exception as exc:
        raise connection.translate(exc, "list", path) from None


def entry_pages(connection: Connection, path: str, page_size: int) -> Iterator[list[Entry]]:
    """A folder's entries (sub-folders and files) one server page at a time."""
    location = connection.location
    folder = location.key(path, folder=True)
    connection.ensure_credentials()
    found = folder == location.prefix
    for page in pages(
        connection, path, Prefix=folder, Delimiter="/", PaginationConfig={"PageSize": page_size}
    ):
        entries: list[Entry] = []
        for prefix in page.prefixes:
            name = prefix[len(folder) :].rstrip("/")
            if prefix.startswith(folder) and _listable(name):
                entries.append(Entry(name, location.relative(prefix), True, 0, None))
        for listed in page.objects:
            name = listed.key[len(folder) :]
            found = found or listed.key.startswith(folder)
            if listed.key.startswith(folder) and _listable(name):
                entries.append(_file_entry(location, listed, name))
        found = found or bool(entries)
        if entries:
            yield entries
    if not found:
        raise NotFound(f"The folder {path!r} does not exist in the dataset.")


def walk(connection: Connection, path: str) -> Iterator[Entry]:
    """Every object under ``path`` (recursive), folder markers included."""
    location = connection.location
    for listed in objects_under(connection, location.key(path, folder=True), path):
        if location.contains(listed.key) and listed.key != location.prefix:
            yield _file_entry(location, listed, listed.key.rstrip("/").rsplit("/", 1)[-1])


def objects_under(connection: Connection, prefix: str, path: str) -> Iterator[ListedObject]:
    """Every object whose key starts with ``prefix``, as the server listed it (not yet trusted)."""
    for page in pages(connection, path, Prefix=prefix):
        yield from page.objects


def children(connection: Connection, folder: str, path: str) -> tuple[dict[str, ListedObject], set[str]]:
    """One delimited listing of ``folder``: its files by key, and its sub-folder prefixes."""
    files: dict[str, ListedObject] = {}
    folders: set[str] = set()
    for page in pages(connection, path, Prefix=folder, Delimiter="/"):
        files.update((listed.key, listed) for listed in page.objects)
        folders.update(page.prefixes)
    return files, folders


def object_exists(connection: Connection, key: str, path: str) -> bool:
    """Whether an object has exactly this key (one request)."""
    response = connection.call("list", path, "list_objects_v2", Prefix=key, MaxKeys=1)
    return any(ListedObject.from_row(row).key == key for row in response.get("Contents", []))


def _file_entry(location: DatasetLocation, listed: ListedObject, name: str) -> Entry:
    return Entry(name, location.relative(listed.key), False, listed.size, listed.modified, listed.etag)


def _listable(name: str) -> bool:
    """A name a listing may show: one path part, not ``.`` or ``..``, no control characters
    (a hostile or broken server can send anything)."""
    return bool(name) and "/" not in name and name not in (".", "..") and name.isprintable()
