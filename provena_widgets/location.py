"""Where a dataset lives in S3, and the sandbox that keeps every path inside it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidPath, LocationError, OutsideDataset

__all__ = ["METADATA_FILE", "DatasetLocation", "split_relative"]

METADATA_FILE = "metadata.json"
"""Provena writes this at the dataset root; users' tools must not change it."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_HANDLE = re.compile(r"^(\d+(?:\.\d+)*)/([A-Za-z0-9][A-Za-z0-9._-]*)$")
_URI_PREFIXES = ("s3://", "s3a://", "s3n://")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class DatasetLocation:
    """A dataset folder: ``bucket`` and a ``prefix`` that always ends with ``/``."""

    bucket: str
    prefix: str

    def __post_init__(self) -> None:
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            raise LocationError(
                f"{self.bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, "
                "dots and hyphens)."
            )
        parts = split_relative(self.prefix.strip("/"), what="dataset folder")
        if not parts:
            raise LocationError(
                f"s3://{self.bucket}/ is a whole bucket: give the dataset folder, like "
                f"s3://{self.bucket}/datasets/10378-1-1234567/."
            )
        object.__setattr__(self, "prefix", "/".join(parts) + "/")

    def __str__(self) -> str:
        return self.s3_uri

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def winscp_path(self) -> str:
        """The form Provena's WinSCP instructions use: ``/bucket/prefix/``."""
        return f"/{self.bucket}/{self.prefix}"

    @property
    def name(self) -> str:
        return self.prefix.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def parse(cls, text: str) -> DatasetLocation:
        """Read ``s3://b/datasets/x/``, ``/b/datasets/x/``, ``b/datasets/x`` or an ``aws s3`` line."""
        if not isinstance(text, str):
            raise LocationError("The dataset path must be text, like s3://bucket/datasets/id/.")
        value = text.strip().strip(_QUOTES).strip()
        for word in value.split():
            if word.lower().startswith(_URI_PREFIXES):
                value = word.strip(_QUOTES)
                break
        if not value:
            raise LocationError(
                "The dataset path is empty: copy it from the Data Store page, like "
                "/bucket/datasets/10378-1-1234567/."
            )
        if "\\" in value:
            raise LocationError(
                "The dataset path contains backslashes: S3 paths use forward slashes, like "
                "/bucket/datasets/10378-1-1234567/."
            )
        lowered = value.lower()
        for scheme in _URI_PREFIXES:
            if lowered.startswith(scheme):
                value = value[len(scheme) :]
                break
        else:
            if "://" in value:
                raise LocationError(
                    f"{text.strip()[:80]!r} is a web address, not a dataset path: use the "
                    "s3://bucket/datasets/... path shown under the credentials."
                )
            value = value.lstrip("/")
        bucket, _, prefix = value.partition("/")
        if not bucket:
            raise LocationError("The dataset path has no bucket name: use /bucket/datasets/id/.")
        if ".." in value.split("/"):
            raise LocationError("The dataset path contains '..': give the dataset folder itself.")
        if "//" in value.rstrip("/"):
            raise LocationError(
                "The dataset path has an empty part ('//'): copy it again from the Data Store page."
            )
        try:
            return cls(bucket, prefix)
        except InvalidPath as err:
            raise LocationError(str(err)) from None

    @classmethod
    def from_handle(cls, handle: str, bucket: str, root: str = "datasets/") -> DatasetLocation:
        """The folder Provena uses for a handle: ``10378.1/123`` -> ``datasets/10378-1-123/``.

        Prefer the location in the dataset's registry record where one is available.
        """
        value = handle.strip().strip(_QUOTES).strip() if isinstance(handle, str) else ""
        match = _HANDLE.match(value)
        if not match:
            raise LocationError(
                f"{value[:60]!r} is not a dataset handle: expected a form like 10378.1/1234567."
            )
        naming, local = match.groups()
        folder = f"{naming.replace('.', '-')}-{local.replace('.', '-').replace('/', '-')}"
        return cls(bucket, f"{root.strip('/')}/{folder}/" if root.strip("/") else f"{folder}/")

    def key(self, path: str = "", *, folder: bool = False) -> str:
        """Full S3 key for ``path`` relative to the dataset folder; refuses anything outside it."""
        parts = split_relative(path)
        rel = "/".join(parts)
        if folder or (path.endswith("/") and rel):
            rel = f"{rel}/" if rel else ""
        key = self.prefix + rel
        if len(key.encode()) > _MAX_KEY_BYTES:
            raise InvalidPath(f"The path {path[:60]!r}... is longer than S3 allows (1024 bytes).")
        return key

    def relative(self, key: str) -> str:
        """The path of a full key relative to the dataset folder; raises if it is outside."""
        if not key.startswith(self.prefix):
            raise OutsideDataset(f"{key!r} is outside the dataset folder {self.s3_uri}.")
        return key[len(self.prefix) :]

    def contains(self, key: str) -> bool:
        return key.startswith(self.prefix)


def split_relative(path: str, *, what: str = "path") -> list[str]:
    """Split a dataset-relative path into clean parts, resolving ``.`` and inner ``..``.

    Raises :class:`OutsideDataset` for absolute paths and ``..`` that climb out, and
    :class:`InvalidPath` for backslashes, empty parts and control characters.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"The {what} must be text, not {type(path).__name__}.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise InvalidPath(f"The {what} {path[:60]!r} contains control characters.")
    slashed = path.replace("\\", "/")
    if slashed.startswith("/") or re.match(r"^[A-Za-z]:/", slashed):
        raise OutsideDataset(f"{path[:80]!r} is an absolute path: give paths relative to the dataset folder.")
    parts: list[str] = []
    raw_parts = slashed.split("/")
    for index, part in enumerate(raw_parts):
        if part == "..":
            if not parts:
                raise OutsideDataset(f"{path[:80]!r} leads outside the dataset folder.")
            parts.pop()
        elif part == "":
            if 0 < index < len(raw_parts) - 1:
                raise InvalidPath(f"The {what} {path[:80]!r} has an empty part ('//').")
        elif part != ".":
            parts.append(part)
    if "\\" in path:
        raise InvalidPath(f"The {what} {path[:80]!r} contains a backslash: S3 paths use forward slashes.")
    return parts
