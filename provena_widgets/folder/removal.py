"""Deleting files and folders: everything named is found and checked before anything goes."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InvalidPath, NotFound, ProtectedFile
from ..location import METADATA_FILE, split_relative
from .connection import Connection
from .listing import object_exists, objects_under

BATCH = 1000  # keys per DeleteObjects request, S3's limit


def keys_to_delete(connection: Connection, paths: Iterable[str], allow_metadata: bool) -> list[str]:
    """The full keys ``paths`` name (folders recursively); Provena's root ``metadata.json`` is
    refused unless ``allow_metadata``."""
    keys: list[str] = []
    for path in paths:
        keys.extend(_keys_of(connection, path, allow_metadata))
    return keys


def _keys_of(connection: Connection, path: str, allow_metadata: bool) -> list[str]:
    if not split_relative(path):
        raise InvalidPath("Refusing to delete the whole dataset folder: name the files or folders to delete.")
    location = connection.location
    metadata_key = location.prefix + METADATA_FILE
    key = location.key(path)
    if key == metadata_key and not allow_metadata:
        raise ProtectedFile(
            f"{METADATA_FILE} belongs to Provena and is not deleted (pass allow_metadata=True to insist)."
        )
    found: list[str] = []
    if not key.endswith("/") and object_exists(connection, key, path):
        found.append(key)
    folder = key if key.endswith("/") else key + "/"
    found.extend(
        listed.key
        for listed in objects_under(connection, folder, path)
        if listed.key.startswith(folder) and location.contains(listed.key)
    )
    if not found:
        raise NotFound(f"{path!r} does not exist in the dataset, so nothing was deleted.")
    return [k for k in dict.fromkeys(found) if allow_metadata or k != metadata_key]


def delete_keys(connection: Connection, keys: list[str]) -> list[str]:
    """Delete ``keys`` in batches; returns them relative to the dataset folder."""
    location = connection.location
    removed: list[str] = []
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        response = connection.call(
            "delete",
            location.relative(batch[0]),
            "delete_objects",
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
        )
        refused = {error["Key"] for error in response.get("Errors", [])}
        for key in batch:
            if key in refused:
                # Some servers authorise DeleteObjects on the bucket, not per key: ask per key,
                # which also gives the exact error when the refusal is real.
                connection.call("delete", location.relative(key), "delete_object", Key=key)
            removed.append(location.relative(key))
    return removed
