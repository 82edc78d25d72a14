"""An fsspec file system on one dataset folder, so pandas, xarray and Dask read and write in place.

Written over the store's own connection rather than wrapping s3fs (whose aiobotocore pins an older
botocore than boto3 needs) or obstore (whose fsspec store only prefixes paths): every path goes
through the dataset's path sandbox, Provena's root ``metadata.json`` stays read-only, and requests
use the store's credentials, their renewal and its typed errors. Needs ``fsspec``.

``provena://`` URLs reach it through fsspec's registry (the package's ``fsspec.specs`` entry point):
``dd.read_csv("provena://data/*.csv", storage_options=store.storage_options)``.
"""

from __future__ import annotations

import io
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from ..credentials import Credentials
from ..errors import CredentialsError, LocationError, NotFound, ProtectedFile
from ..location import METADATA_FILE, DatasetLocation
from ..transfer.settings import MIN_PART, TransferSettings
from .connection import DEFAULT_REGION, Connection
from .listing import Entry, entry_pages
from .removal import delete_keys, keys_to_delete


class DatasetFileSystem(AbstractFileSystem):
    """Paths are relative to the dataset folder (``"data/x.csv"``); anything resolving outside it
    raises ``OutsideDataset`` before any request. Built on a store's connection (``store.fs``), or
    from :func:`storage_options` (what fsspec does for ``provena://`` URLs). Pickled (to reach Dask
    workers) or built from options it carries the credentials of that moment, without renewal;
    its repr never shows them."""

    protocol = "provena"
    root_marker = ""
    cachable = False  # instances hold credentials: never shared through fsspec's cache

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        credentials: Credentials | None = None,
        location: DatasetLocation | str | None = None,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
        settings: TransferSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if connection is None:
            connection = _connect(credentials, location, endpoint_url, region, settings)
        self.connection = connection
        self.location = connection.location

    def __repr__(self) -> str:
        return f"DatasetFileSystem({self.location.s3_uri!r})"

    def __reduce__(self) -> Any:
        return _rebuild, (storage_options(self.connection),)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(one) for one in path]
        return str(path).removeprefix("provena://").rstrip("/")

    # -- reading the folder ------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        try:
            entries = [
                self._entry_info(entry) for page in entry_pages(self.connection, path, 1000) for entry in page
            ]
        except NotFound:
            entries = [self.info(path)]  # a file lists as itself; a missing path raises
        return entries if detail else [entry["name"] for entry in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        key = self.location.key(path)
        if key == self.location.prefix:
            return {"name": "", "size": 0, "type": "directory"}
        try:
            head = self.connection.call("read", path, "head_object", Key=key)
        except NotFound:
            if self._has_children(path):
                return {"name": path, "size": 0, "type": "directory"}
            raise FileNotFoundError(path) from None
        return {
            "name": path,
            "size": head["ContentLength"],
            "type": "file",
            "LastModified": head["LastModified"],
            "ETag": head.get("ETag"),
        }

    def _has_children(self, path: str) -> bool:
        folder = self.location.key(path, folder=True)
        listed = self.connection.call("list", path, "list_objects_v2", Prefix=folder, MaxKeys=1)
        return bool(listed.get("Contents"))

    def _entry_info(self, entry: Entry) -> dict[str, Any]:
        kind = "directory" if entry.is_dir else "file"
        info = {"name": entry.key.rstrip("/"), "size": entry.size, "type": kind, "ETag": entry.etag}
        return {**info, "LastModified": entry.modified}

    # -- changing the folder -----------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> DatasetFile:
        if "r" not in mode:
            self._refuse_metadata(path)
        size = max(block_size or self.connection.settings.part_size, MIN_PART)
        return DatasetFile(self, path, mode, size, autocommit, cache_options=cache_options, **kwargs)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """A folder marker (S3 folders exist through their files; the marker shows an empty one)."""
        path = self._strip_protocol(path)
        key = self.location.key(path, folder=True)
        if key != self.location.prefix:
            self.connection.call("create a folder in", path, "put_object", Key=key, Body=b"")

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        if not (exist_ok and self.exists(path)):
            self.mkdir(path)

    def rm(self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files (and folders with what they hold, with ``recursive=True``); never the root
        ``metadata.json``."""
        paths = [path] if isinstance(path, str) else path
        for one in paths:
            if not recursive and self.isdir(one):
                raise IsADirectoryError(f"{one} is a folder: pass recursive=True to delete it.")
        try:
            keys = keys_to_delete(self.connection, self._strip_protocol(paths), allow_metadata=False)
        except NotFound as err:
            raise FileNotFoundError(str(err)) from None
        delete_keys(self.connection, keys)

    def rm_file(self, path: str) -> None:
        self.rm(path)

    def _refuse_metadata(self, path: str) -> None:
        if self.location.key(self._strip_protocol(path)) == self.location.prefix + METADATA_FILE:
            raise ProtectedFile(f"{METADATA_FILE} belongs to Provena and is read-only here.")


class DatasetFile(AbstractBufferedFile):
    """Reads are ranged GETs pinned to the object's ETag (a file changed meanwhile fails rather
    than mixing versions); writes are one PUT, or a multipart upload once past the block size."""

    fs: DatasetFileSystem

    def __init__(
        self, fs: DatasetFileSystem, path: str, mode: str, block_size: int, *args: Any, **kwargs: Any
    ):
        self.key = fs.location.key(fs._strip_protocol(path))
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        super().__init__(fs, path, mode, block_size, *args, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        if start >= end:
            return b""
        connection = self.fs.connection
        try:
            response = connection.ranged_client.get_object(
                Bucket=self.fs.location.bucket,
                Key=self.key,
                Range=f"bytes={start}-{end - 1}",
                IfMatch=self.details["ETag"],
            )
            return bytes(response["Body"].read())
        except Exception as exc:
            raise connection.translate(exc, "read", self.path) from None

    def _initiate_upload(self) -> None:
        """Nothing yet: a file that ends within one block goes up in a single PUT."""

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        call = self.fs.connection.call
        if final and self.upload_id is None:
            call("upload", self.path, "put_object", Key=self.key, Body=data)
            return True
        if self.upload_id is None:
            self.upload_id = call("upload", self.path, "create_multipart_upload", Key=self.key)["UploadId"]
        if data or not self.parts:
            number = len(self.parts) + 1
            answer = call(
                "upload", self.path, "upload_part",
                Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=io.BytesIO(data),
            )  # fmt: skip
            checksums = {name: value for name, value in answer.items() if name.startswith("Checksum")}
            self.parts.append({"PartNumber": number, "ETag": answer["ETag"], **checksums})
        if final:
            call(
                "upload", self.path, "complete_multipart_upload",
                Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts},
            )  # fmt: skip
        return True

    def discard(self) -> None:
        if self.upload_id is not None:
            self.fs.connection.call(
                "abort the upload of",
                self.path,
                "abort_multipart_upload",
                Key=self.key,
                UploadId=self.upload_id,
            )
            self.upload_id = None


def storage_options(connection: Connection) -> dict[str, Any]:
    """The keyword arguments that rebuild the file system in any process (a Dask worker too): the
    credentials of this moment (renewed first if due, so at least 15 minutes remain when they
    renew), the folder, the endpoint, the region, and the settings unless they are the defaults.
    Their repr hides the secrets. Expired credentials that will not renew are refused here, in the
    kernel, rather than on every worker."""
    connection.ensure_credentials()
    settings = connection.settings
    return {
        "credentials": connection.renew_if_due(),
        "location": connection.location,
        "endpoint_url": connection.endpoint_url,
        "region": connection.client.meta.region_name,
        **({} if settings == TransferSettings() else {"settings": settings}),
    }


_NEEDS_OPTIONS = "provena:// paths need the dataset's options: pass storage_options=store.storage_options."


def _connect(
    credentials: Credentials | None,
    location: DatasetLocation | str | None,
    endpoint_url: str | None,
    region: str,
    settings: TransferSettings | None,
) -> Connection:
    if not isinstance(credentials, Credentials):
        raise CredentialsError(_NEEDS_OPTIONS)
    if location is None:
        raise LocationError(_NEEDS_OPTIONS)
    where = location if isinstance(location, DatasetLocation) else DatasetLocation.parse(location)
    return Connection(credentials, where, endpoint_url, region, settings or TransferSettings(), None)


def _rebuild(options: dict[str, Any]) -> DatasetFileSystem:
    return DatasetFileSystem(**options)
