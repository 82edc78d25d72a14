"""Quick look: the first bytes of a dataset file (one ranged GET, never more than ``limit``), as a
table (CSV/TSV), text (text, JSON, Markdown, ...), an image (PNG/JPEG) or "binary"."""

from __future__ import annotations

import codecs
import csv
import mimetypes
from dataclasses import dataclass, field
from typing import Literal

from botocore.exceptions import ClientError

from ..errors import InvalidPath
from ..s3errors import error_code
from ..transfer.settings import MiB
from .connection import Connection

MAX_LINES = 200  # lines of text, or rows of a table, a preview keeps
IMAGES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}

PreviewKind = Literal["table", "text", "image", "binary"]


@dataclass(frozen=True)
class Preview:
    """What a file starts with. ``truncated``: the file holds more than the preview shows (it is
    larger than what was read, or has more lines than the ``MAX_LINES`` kept)."""

    path: str
    kind: PreviewKind
    size: int  # the whole file's, in bytes
    truncated: bool
    mime: str = ""
    text: str = ""  # "text": the first lines, decoded (UTF-8)
    rows: list[list[str]] = field(default_factory=list)  # "table": the first rows, header included
    image: bytes = b""  # "image": the bytes read (a truncated image shows its top part, or nothing)


def preview(connection: Connection, path: str, limit: int = MiB) -> Preview:
    """The preview of the file ``path`` from at most ``limit`` bytes, read in one ranged GET."""
    if not isinstance(limit, int) or limit < 1:
        raise InvalidPath(f"limit={limit!r} must be a positive number of bytes, e.g. 1048576.")
    key = connection.location.key(path)
    if key.endswith("/") or key == connection.location.prefix:
        raise InvalidPath(f"{path!r} is a folder: choose a file to preview.")
    connection.ensure_credentials()
    data, size = _first_bytes(connection, key, path, limit)
    cut = size > len(data)
    guessed = mimetypes.guess_type(path, strict=False)[0] or ""
    image = next((mime for magic, mime in IMAGES.items() if data.startswith(magic)), None)
    if image is not None:
        return Preview(path, "image", size, cut, image, image=data)
    text = _decoded(data, cut)
    if text is None:
        return Preview(path, "binary", size, cut, guessed or "application/octet-stream")
    lines = text.splitlines(keepends=True)
    if cut and len(lines) > 1:
        lines.pop()  # the last line is only partly read
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix in DELIMITERS:
        rows = _rows(lines, DELIMITERS[suffix])
        if rows is not None:
            truncated = cut or len(rows) > MAX_LINES
            return Preview(path, "table", size, truncated, guessed or "text/csv", rows=rows[:MAX_LINES])
    shown = "".join(lines[:MAX_LINES])
    truncated = cut or len(lines) > MAX_LINES
    return Preview(path, "text", size, truncated, guessed or "text/plain", text=shown)


def _first_bytes(connection: Connection, key: str, path: str, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes from the start of the object, and its whole size."""
    try:
        response = connection.ranged_client.get_object(
            Bucket=connection.location.bucket, Key=key, Range=f"bytes=0-{limit - 1}"
        )
    except Exception as exc:
        if isinstance(exc, ClientError) and error_code(exc) == "InvalidRange":
            return b"", 0  # an empty object has no byte 0 to start a range at
        raise connection.translate(exc, "preview", path) from None
    with response["Body"] as body:
        data: bytes = body.read(limit)
    total = str(response.get("ContentRange", "")).rpartition("/")[2]
    return data, int(total) if total.isdigit() else int(response.get("ContentLength", len(data)))


def _decoded(data: bytes, cut: bool) -> str | None:
    """``data`` as UTF-8 text (a character split by the cut is dropped); None for binary data."""
    if b"\x00" in data:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=not cut)
    except UnicodeDecodeError:
        return None


def _rows(lines: list[str], delimiter: str) -> list[list[str]] | None:
    """The lines parsed as CSV; None when they are not."""
    try:
        return [row for row in csv.reader(lines, delimiter=delimiter, strict=True) if row]
    except csv.Error:
        return None
