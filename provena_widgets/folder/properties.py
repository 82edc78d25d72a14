"""Properties of a file (one HeadObject) or a folder (one listing of everything under it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import NotFound
from ..s3objects import stored_mtime
from ..transfer.copies import stored_checksum
from .connection import Connection
from .listing import objects_under


@dataclass(frozen=True)
class Properties:
    """What the Properties dialog shows. For a folder: ``files`` and ``size`` count everything
    under it (folder markers are not files), ``modified`` is its newest object's time."""

    path: str
    s3_uri: str
    is_dir: bool
    size: int
    modified: datetime | None  # when the object was stored (S3's Last-Modified)
    files: int = 1
    etag: str | None = None
    checksum_algorithm: str | None = None  # the stored flexible checksum, e.g. "CRC32C"
    checksum: str | None = None  # its value as S3 gives it (base64; "-N" when composite)
    content_type: str | None = None
    file_modified: datetime | None = None  # the file's own time, kept by uploads as ``mtime``


def properties(connection: Connection, path: str) -> Properties:
    """The properties of ``path``: a file, else (or when it ends in "/") a folder."""
    connection.ensure_credentials()
    location = connection.location
    key = location.key(path)
    if not key.endswith("/") and key != location.prefix:
        try:
            head = connection.call("read", path, "head_object", Key=key, ChecksumMode="ENABLED")
        except NotFound:
            pass  # not a file: perhaps a folder
        else:
            checksum = stored_checksum(head)
            mtime = stored_mtime(head.get("Metadata", {}))
            return Properties(
                location.relative(key),
                f"s3://{location.bucket}/{key}",
                False,
                int(head.get("ContentLength", 0)),
                head.get("LastModified"),
                etag=str(head.get("ETag", "")).strip('"') or None,
                checksum_algorithm=checksum[0] if checksum else None,
                checksum=checksum[1] if checksum else None,
                content_type=head.get("ContentType"),
                file_modified=None if mtime is None else datetime.fromtimestamp(mtime, timezone.utc),
            )
    return _folder(connection, path, key.rstrip("/") + "/" if key != location.prefix else key)


def _folder(connection: Connection, path: str, folder: str) -> Properties:
    location = connection.location
    size = files = 0
    newest: datetime | None = None
    found = folder == location.prefix
    for listed in objects_under(connection, folder, path):
        if not (listed.key.startswith(folder) and location.contains(listed.key)):
            continue
        found = True
        if not listed.key.endswith("/"):
            files += 1
            size += listed.size
        if listed.modified is not None and (newest is None or listed.modified > newest):
            newest = listed.modified
    if not found:
        raise NotFound(f"{path!r} does not exist in the dataset.")
    return Properties(
        location.relative(folder), f"s3://{location.bucket}/{folder}", True, size, newest, files
    )
