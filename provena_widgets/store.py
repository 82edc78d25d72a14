"""DatasetStore: list, upload, download, mkdir and delete inside one dataset folder."""

from __future__ import annotations

import builtins
import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from .credentials import Credentials
from .errors import (
    AlreadyExists,
    DatasetLocked,
    DatasetReleased,
    InvalidPath,
    LocalPathError,
    MissingRole,
    NotFound,
    ProtectedFile,
    ProvenaWidgetsError,
)
from .location import METADATA_FILE, DatasetLocation, split_relative
from .s3errors import translate
from .sync import Compare, SyncPlan, SyncTable, plan_sync_down, plan_sync_up, run_sync
from .transfer.crt import CrtRequests
from .transfer.crt import available as crt_available
from .transfer.engine import CancelToken, TransferEngine, TransferSettings
from .transfer.handle import Transfer
from .transfer.localfs import (
    Containment,
    check_sources,
    fold_name,
    is_case_insensitive,
    local_parts,
    walk_sources,
)
from .transfer.plan import (
    Conflict,
    Existing,
    FileTask,
    OverwritePolicy,
    check_overwrite_mode,
    decide,
    etag_matches,
)
from .transfer.progress import ProgressCallback, TextProgress
from .transfer.report import Direction, TransferReport
from .units import format_bytes

if TYPE_CHECKING:
    from .provena.client import DatasetInfo, ProvenaClient

__all__ = ["DatasetStore", "Entry", "StoreStatus"]

DEFAULT_REGION = "ap-southeast-2"
Progress = ProgressCallback | Literal["text"] | bool | None
PathArg = str | os.PathLike[str]


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
class StoreStatus:
    """The answer of :meth:`DatasetStore.check`."""

    location: DatasetLocation
    endpoint: str
    has_files: bool
    expiry: datetime | None

    def __str__(self) -> str:
        state = "has files" if self.has_files else "is empty"
        return f"Connected to {self.location.s3_uri} ({state})."


class DatasetStore:
    """Everything WinSCP does on a Provena dataset folder, from Python.

    Paths are relative to the dataset folder; anything resolving outside it is refused before
    any request. ``endpoint_url=None`` uses boto3's standard configuration
    (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, profiles). ``renew``, if given, is called for
    fresh credentials shortly before the current ones expire, so long transfers finish.
    """

    def __init__(
        self,
        credentials: Credentials,
        location: DatasetLocation | str,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
        *,
        settings: TransferSettings | None = None,
        renew: Callable[[], Credentials] | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError("credentials must be a Credentials (use Credentials.parse(text)).")
        self.location = location if isinstance(location, DatasetLocation) else DatasetLocation.parse(location)
        self.region = region
        self.settings = settings or TransferSettings()
        self._credentials = credentials
        self._renew = renew
        self._client, ranged_client, botocore_credentials = self._make_clients(endpoint_url)
        self.endpoint_url: str = self._client.meta.endpoint_url
        crt = (
            CrtRequests(
                self.endpoint_url,
                self.location.bucket,
                self.region,
                botocore_credentials,
                self.settings.crt_memory,
                self.settings.timeout,
            )
            if self.settings.crt and crt_available()
            else None
        )
        self._engine = TransferEngine(
            self._client,
            self.location.bucket,
            self._translate,
            self.settings,
            self.endpoint_url,
            ranged_client,
            crt,
        )
        self.dataset: DatasetInfo | None = None  # the registry record, when opened from Provena
        self._running: set[CancelToken] = set()
        self._running_lock = threading.Lock()

    @classmethod
    def from_provena(
        cls,
        client: ProvenaClient,
        handle: str,
        write: bool = False,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
        *,
        settings: TransferSettings | None = None,
    ) -> DatasetStore:
        """A store on the dataset's folder from its registry record, with credentials from Provena
        that renew themselves before they expire (so transfers longer than their lifetime finish).
        """
        info = client.fetch_dataset(handle)
        if write and info.write_refusal:
            raise _write_refused(info)
        credentials = client.generate_credentials(handle, write=write)
        store = cls(
            credentials,
            info.location,
            endpoint_url,
            region,
            settings=settings,
            renew=lambda: client.generate_credentials(handle, write=write),
        )
        store.dataset = info
        return store

    def __repr__(self) -> str:
        return (
            f"DatasetStore({self.location.s3_uri!r}, endpoint={self.endpoint_url!r}, "
            f"access_key_id={self.credentials.access_key_id!r})"
        )

    # -- connection --------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def renews(self) -> bool:
        """True when credentials are renewed automatically before they expire."""
        return self._renew is not None

    @property
    def client(self) -> Any:
        """The underlying boto3 S3 client, for anything this class does not cover."""
        return self._client

    def _make_clients(self, endpoint_url: str | None) -> tuple[Any, Any, Any]:
        """The client, and one for ranged GETs that leaves checksum checks to the engine (a range's
        bytes cannot match a whole-object checksum, which some S3-compatible servers still send)."""
        session = boto3.session.Session(region_name=self.region, **self._credentials.boto_kwargs())
        parsers = session._session.get_component("response_parser_factory")
        parsers.set_parser_defaults(timestamp_parser=parse_s3_timestamp)
        if self._renew is not None:
            session._session._credentials = RefreshableCredentials.create_from_metadata(
                metadata=self._renewed_metadata(self._credentials),
                refresh_using=self._refresh,
                method="provena-renew",
            )
        options: dict[str, Any] = {}
        if endpoint_url:
            options["s3"] = {"addressing_style": "path"}
        config = Config(
            retries={"max_attempts": self.settings.request_attempts, "mode": "standard"},
            max_pool_connections=self.settings.workers + self.settings.part_workers + 4,
            connect_timeout=10,
            read_timeout=self.settings.timeout,
            user_agent_extra="provena-widgets",
            **options,
        )
        ranged = config.merge(Config(response_checksum_validation="when_required"))
        return (
            session.client("s3", endpoint_url=endpoint_url or None, config=config),
            session.client("s3", endpoint_url=endpoint_url or None, config=ranged),
            session.get_credentials(),
        )

    @staticmethod
    def _renewed_metadata(credentials: Credentials) -> dict[str, str]:
        expiry = credentials.expiry or datetime.now(timezone.utc)
        return {
            "access_key": credentials.access_key_id,
            "secret_key": credentials.secret_access_key,
            "token": credentials.session_token or "",
            "expiry_time": expiry.isoformat(),
        }

    def _refresh(self) -> dict[str, str]:
        assert self._renew is not None
        self._credentials = self._renew()
        return self._renewed_metadata(self._credentials)

    def _ensure_credentials(self) -> None:
        if self._renew is None:
            self._credentials.ensure_valid()

    def _translate(self, error: BaseException, action: str, path: str) -> ProvenaWidgetsError:
        return translate(
            error,
            action=action,
            path=path or "the dataset folder",
            credentials=self._credentials,
            endpoint=self.endpoint_url,
        )

    def _call(self, action: str, path: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(Bucket=self.location.bucket, **kwargs)
        except Exception as exc:
            raise self._translate(exc, action, path) from None

    def check(self) -> StoreStatus:
        """One cheap request proving the credentials work for this folder."""
        self._ensure_credentials()
        response = self._call(
            "open", "the dataset folder", "list_objects_v2", Prefix=self.location.prefix, MaxKeys=1
        )
        return StoreStatus(
            self.location,
            self.endpoint_url,
            bool(response.get("KeyCount") or response.get("Contents")),
            self._credentials.expiry,
        )

    # -- listing -----------------------------------------------------------------------------

    def list(self, path: str = "") -> builtins.list[Entry]:
        """The folder's entries: sub-folders (from CommonPrefixes) first, then files, by name."""
        entries = [entry for page in self.iter_pages(path) for entry in page]
        return sorted(entries, key=lambda entry: (not entry.is_dir, entry.name.casefold()))

    def iter_pages(self, path: str = "", page_size: int = 1000) -> Iterator[builtins.list[Entry]]:
        """The folder's entries one server page at a time, for folders with many thousands."""
        folder = self.location.key(path, folder=True)
        self._ensure_credentials()
        found = folder == self.location.prefix
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket,
            Prefix=folder,
            Delimiter="/",
            PaginationConfig={"PageSize": page_size},
        )
        try:
            for page in pages:
                entries: builtins.list[Entry] = []
                for common in page.get("CommonPrefixes", []):
                    key = common.get("Prefix", "")
                    name = key[len(folder) :].rstrip("/")
                    if key.startswith(folder) and _listable(name):
                        entries.append(Entry(name, self.location.relative(key), True, 0, None))
                for item in page.get("Contents", []):
                    key = item["Key"]
                    found = found or key.startswith(folder)
                    name = key[len(folder) :]
                    if key.startswith(folder) and _listable(name):
                        entries.append(self._file_entry(item, name))
                found = found or bool(entries)
                if entries:
                    yield entries
        except Exception as exc:
            raise self._translate(exc, "list", path) from None
        if not found:
            raise NotFound(f"The folder {path!r} does not exist in the dataset.")

    def _file_entry(self, item: dict[str, Any], name: str) -> Entry:
        return Entry(
            name,
            self.location.relative(item["Key"]),
            False,
            int(item.get("Size", 0)),
            item.get("LastModified"),
            str(item.get("ETag", "")).strip('"') or None,
        )

    def walk(self, path: str = "") -> Iterator[Entry]:
        """Every object under ``path`` (recursive), folder markers included."""
        for item in self._objects(self.location.key(path, folder=True), path):
            key = item["Key"]
            if self.location.contains(key) and key != self.location.prefix:
                yield self._file_entry(item, key.rstrip("/").rsplit("/", 1)[-1])

    def _objects(self, prefix: str, path: str) -> Iterator[dict[str, Any]]:
        """Raw listing items under ``prefix``, as the server sent them (not yet trusted)."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix
        )
        try:
            for page in pages:
                yield from page.get("Contents", [])
        except Exception as exc:
            raise self._translate(exc, "list", path) from None

    # -- changing the folder -----------------------------------------------------------------

    def mkdir(self, path: str) -> str:
        """Create an (empty) folder; returns its dataset-relative path, ending in ``/``."""
        self._ensure_credentials()
        key = self.location.key(path, folder=True)
        if key == self.location.prefix:
            raise InvalidPath("Give the new folder a name.")
        self._call("create a folder in", path, "put_object", Key=key, Body=b"")
        return self.location.relative(key)

    def delete(self, paths: Iterable[str] | str, *, allow_metadata: bool = False) -> builtins.list[str]:
        """Delete files and folders (recursively); returns the dataset-relative keys removed.

        Everything is checked before anything is deleted. Provena's root ``metadata.json`` is
        refused unless ``allow_metadata=True``.
        """
        self._ensure_credentials()
        keys: builtins.list[str] = []
        for path in [paths] if isinstance(paths, str) else list(paths):
            keys.extend(self._keys_to_delete(path, allow_metadata))
        removed: builtins.list[str] = []
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            response = self._call(
                "delete",
                self.location.relative(batch[0]),
                "delete_objects",
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            refused = {error["Key"] for error in response.get("Errors", [])}
            for key in batch:
                if key in refused:
                    # Some servers authorise DeleteObjects on the bucket, not per key: ask per key,
                    # which also gives the exact error when the refusal is real.
                    self._call("delete", self.location.relative(key), "delete_object", Key=key)
                removed.append(self.location.relative(key))
        return removed

    def _keys_to_delete(self, path: str, allow_metadata: bool) -> builtins.list[str]:
        if not split_relative(path):
            raise InvalidPath(
                "Refusing to delete the whole dataset folder: name the files or folders to delete."
            )
        metadata_key = self.location.prefix + METADATA_FILE
        key = self.location.key(path)
        if key == metadata_key and not allow_metadata:
            raise ProtectedFile(
                f"{METADATA_FILE} belongs to Provena and is not deleted (pass allow_metadata=True to insist)."
            )
        found: builtins.list[str] = []
        if not key.endswith("/") and self._object_exists(key, path):
            found.append(key)
        folder = key if key.endswith("/") else key + "/"
        found.extend(
            item["Key"]
            for item in self._objects(folder, path)
            if item["Key"].startswith(folder) and self.location.contains(item["Key"])
        )
        if not found:
            raise NotFound(f"{path!r} does not exist in the dataset, so nothing was deleted.")
        return [k for k in dict.fromkeys(found) if allow_metadata or k != metadata_key]

    def _object_exists(self, key: str, path: str) -> bool:
        response = self._call("list", path, "list_objects_v2", Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in response.get("Contents", []))

    # -- transfers ---------------------------------------------------------------------------

    def upload(
        self,
        sources: Iterable[PathArg] | PathArg,
        to: str = "",
        *,
        overwrite: OverwritePolicy = "skip",
        progress: Progress = "text",
        allow_metadata: bool = False,
        cancel: CancelToken | None = None,
    ) -> TransferReport:
        """Upload local files and folders into the dataset folder ``to``.

        A folder keeps its own name (``results/`` into ``sub/`` gives ``sub/results/...``).
        ``overwrite``: ``"skip"`` (same size, not newer), ``"overwrite"``, ``"newer"``,
        ``"different"`` (size or checksum), ``"error"``, or a callable deciding per
        :class:`Conflict`. ``progress``: a callback, ``"text"`` for a text line, or None.
        """
        tasks = self.plan_upload(sources, to, overwrite=overwrite, allow_metadata=allow_metadata)
        return self._execute("upload", tasks, progress, cancel)

    def download(
        self,
        paths: Iterable[str] | str,
        to: PathArg = ".",
        *,
        overwrite: OverwritePolicy = "skip",
        progress: Progress = "text",
        cancel: CancelToken | None = None,
    ) -> TransferReport:
        """Download dataset files and folders into the local folder ``to``.

        A folder keeps its own name (``sub/results/`` into ``out/`` gives ``out/results/...``).
        Files are written under a temporary name and renamed only when complete.
        """
        tasks = self.plan_download(paths, to, overwrite=overwrite)
        return self._execute("download", tasks, progress, cancel)

    def start_upload(self, sources: Iterable[PathArg] | PathArg, to: str = "", **options: Any) -> Transfer:
        """Like :meth:`upload`, in the background; returns a :class:`Transfer` to cancel or wait."""
        return Transfer(lambda token: self.upload(sources, to, cancel=token, **options), "upload").start()

    def start_download(self, paths: Iterable[str] | str, to: PathArg = ".", **options: Any) -> Transfer:
        """Like :meth:`download`, in the background; returns a :class:`Transfer`."""
        return Transfer(lambda token: self.download(paths, to, cancel=token, **options), "download").start()

    def cancel(self) -> None:
        """Cancel every transfer this store is running (from any thread)."""
        with self._running_lock:
            tokens = list(self._running)
        for token in tokens:
            token.cancel()

    def _execute(
        self,
        direction: Direction,
        tasks: builtins.list[FileTask],
        progress: Progress,
        cancel: CancelToken | None,
    ) -> TransferReport:
        token = cancel or CancelToken()
        with self._running_lock:
            self._running.add(token)
        try:
            return self._engine.run(direction, tasks, _progress_callback(progress), token)
        finally:
            with self._running_lock:
                self._running.discard(token)

    # -- sync --------------------------------------------------------------------------------

    def plan_sync_up(
        self,
        local_dir: PathArg,
        to: str = "",
        *,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
        allow_metadata: bool = False,
    ) -> SyncPlan:
        """What :meth:`sync_up` would do (new / changed / unchanged / extra); changes nothing."""
        return plan_sync_up(self, local_dir, to, delete=delete, include=include, exclude=exclude,
                            compare=compare, allow_metadata=allow_metadata)  # fmt: skip

    def plan_sync_down(
        self,
        from_: str = "",
        to: PathArg = ".",
        *,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
    ) -> SyncPlan:
        """What :meth:`sync_down` would do; changes nothing."""
        return plan_sync_down(
            self, from_, to, delete=delete, include=include, exclude=exclude, compare=compare
        )

    def run_sync(
        self, plan: SyncPlan, progress: Progress = "text", cancel: CancelToken | None = None
    ) -> TransferReport:
        """Carry out a sync plan: transfer what is new or changed; then, only if all of that
        worked, delete what the plan marks for deletion (never Provena's metadata.json)."""
        return run_sync(self, plan, progress, cancel)

    def start_sync(self, plan: SyncPlan, *, progress: Progress = "text") -> Transfer:
        """Like :meth:`run_sync`, in the background; returns a :class:`Transfer`."""
        return Transfer(lambda token: self.run_sync(plan, progress, token), "sync").start()

    @overload
    def sync_up(self, local_dir: PathArg, to: str = "", *, dry_run: Literal[True], delete: bool = False,
                include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                compare: Compare = "time", allow_metadata: bool = False,
                progress: Progress = "text") -> SyncTable: ...  # fmt: skip
    @overload
    def sync_up(self, local_dir: PathArg, to: str = "", *, dry_run: Literal[False] = False,
                delete: bool = False, include: Iterable[str] | str | None = None,
                exclude: Iterable[str] | str | None = None, compare: Compare = "time",
                allow_metadata: bool = False, progress: Progress = "text") -> TransferReport: ...  # fmt: skip
    @overload
    def sync_up(self, local_dir: PathArg, to: str = "", *, dry_run: bool, delete: bool = False,
                include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                compare: Compare = "time", allow_metadata: bool = False,
                progress: Progress = "text") -> TransferReport | SyncTable: ...  # fmt: skip
    def sync_up(
        self,
        local_dir: PathArg,
        to: str = "",
        *,
        dry_run: bool = False,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
        allow_metadata: bool = False,
        progress: Progress = "text",
    ) -> TransferReport | SyncTable:
        """Make the dataset folder ``to`` hold what ``local_dir`` holds (its contents).

        ``dry_run=True`` changes nothing and returns the plan as a table (new / changed /
        unchanged / extra, with sizes; a pandas DataFrame when pandas is installed). Extras at the
        destination are removed only with ``delete=True``, never Provena's ``metadata.json``.
        ``include`` / ``exclude`` are globs (exclude wins); ``compare`` is ``"time"`` (size and
        modification time) or ``"checksum"``. Otherwise returns the :class:`TransferReport`.
        """
        plan = self.plan_sync_up(local_dir, to, delete=delete, include=include, exclude=exclude,
                                 compare=compare, allow_metadata=allow_metadata)  # fmt: skip
        return plan.table() if dry_run else self.run_sync(plan, progress)

    @overload
    def sync_down(self, from_: str = "", to: PathArg = ".", *, dry_run: Literal[True], delete: bool = False,
                  include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                  compare: Compare = "time", progress: Progress = "text") -> SyncTable: ...  # fmt: skip
    @overload
    def sync_down(self, from_: str = "", to: PathArg = ".", *, dry_run: Literal[False] = False,
                  delete: bool = False, include: Iterable[str] | str | None = None,
                  exclude: Iterable[str] | str | None = None, compare: Compare = "time",
                  progress: Progress = "text") -> TransferReport: ...  # fmt: skip
    @overload
    def sync_down(self, from_: str = "", to: PathArg = ".", *, dry_run: bool, delete: bool = False,
                  include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                  compare: Compare = "time",
                  progress: Progress = "text") -> TransferReport | SyncTable: ...  # fmt: skip
    def sync_down(
        self,
        from_: str = "",
        to: PathArg = ".",
        *,
        dry_run: bool = False,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
        progress: Progress = "text",
    ) -> TransferReport | SyncTable:
        """Make the local folder ``to`` hold what the dataset folder ``from_`` holds (see sync_up)."""
        plan = self.plan_sync_down(
            from_, to, delete=delete, include=include, exclude=exclude, compare=compare
        )
        return plan.table() if dry_run else self.run_sync(plan, progress)

    # -- planning ----------------------------------------------------------------------------

    def plan_upload(
        self,
        sources: Iterable[PathArg] | PathArg,
        to: str = "",
        *,
        overwrite: OverwritePolicy = "skip",
        allow_metadata: bool = False,
    ) -> builtins.list[FileTask]:
        """Decide, without changing anything, what an upload would do with each file."""
        check_overwrite_mode(overwrite)
        self._ensure_credentials()
        destination = self.location.key(to, folder=True)
        base = self.location.relative(destination)
        local = check_sources([sources] if isinstance(sources, (str, os.PathLike)) else sources)
        metadata_key = self.location.prefix + METADATA_FILE
        tasks: builtins.list[FileTask] = []
        seen: set[str] = set()
        for item in walk_sources(local):
            path = base + "/".join(item.parts) + ("/" if item.is_folder else "")
            try:
                key = self.location.key(path, folder=item.is_folder)
            except InvalidPath as exc:
                tasks.append(FileTask(item.path, "", path, item.size, action="fail", reason=str(exc)))
                continue
            if key == metadata_key and not allow_metadata:
                raise ProtectedFile(
                    f"{METADATA_FILE} at the dataset root belongs to Provena: upload it elsewhere, "
                    "or pass allow_metadata=True to replace it."
                )
            task = FileTask(item.path, key, path, item.size, item.mtime, is_folder=item.is_folder)
            if item.problem:
                task.fail(item.problem)
            elif key in seen:
                task.fail("another source goes to the same place")
            seen.add(key)
            tasks.append(task)
        roots = {self.location.key(base + item) for item in _top_names(local)}
        existing = self._remote_index(roots, destination)
        self._resolve_conflicts(tasks, existing, overwrite, "upload")
        return tasks

    def _remote_index(self, roots: set[str], parent: str) -> dict[str, Existing]:
        """What exists at or under each destination root key (all directly in ``parent``).

        Many roots (files chosen one by one) cost one delimited listing of ``parent``, plus a
        listing of each root that is an existing folder, instead of a listing per root."""
        items: list[dict[str, Any]] = []
        if len(roots) == 1:
            folders = roots
        else:
            files, prefixes = self._children(parent, self.location.relative(parent))
            items += [item for key, item in files.items() if key in roots]
            folders = {prefix[:-1] for prefix in prefixes} & roots
        for root in folders:
            items += self._objects(root if len(roots) == 1 else root + "/", self.location.relative(root))
        index: dict[str, Existing] = {}
        for item in items:
            key = item["Key"]
            root = parent + key[len(parent) :].split("/", 1)[0]
            if key.startswith(parent) and root in roots and (key == root or root in folders):
                modified = item.get("LastModified")
                index[key] = Existing(
                    int(item.get("Size", 0)),
                    modified.timestamp() if modified else 0.0,
                    str(item.get("ETag", "")).strip('"') or None,
                )
        return index

    def plan_download(
        self,
        paths: Iterable[str] | str,
        to: PathArg = ".",
        *,
        overwrite: OverwritePolicy = "skip",
    ) -> builtins.list[FileTask]:
        """Decide, without changing anything, what a download would do with each file."""
        check_overwrite_mode(overwrite)
        self._ensure_credentials()
        target = Path(os.path.expanduser(os.fspath(to)))
        if target.exists() and not target.is_dir():
            raise LocalPathError(f"{target} is a file, not a folder: choose a folder to download into.")
        case_insensitive = is_case_insensitive(target)
        inside = Containment(target)
        tasks: builtins.list[FileTask] = []
        claimed: dict[str, str] = {}
        folders: dict[str, dict[str, dict[str, Any]]] = {}  # each parent folder is listed once
        for path in [paths] if isinstance(paths, str) else list(paths):
            for item, parts in self._remote_items(path, folders):
                tasks.append(self._download_task(item, parts, target, claimed, case_insensitive, inside))
        existing: dict[str, Existing] = {}
        for task in tasks:
            if task.action == "transfer" and task.is_folder and task.local.is_dir():
                task.skip("the folder exists")
            elif task.action == "transfer" and task.local.is_file():
                info = task.local.stat()
                existing[task.key] = Existing(info.st_size, info.st_mtime)
            elif task.action == "transfer" and task.local.exists() and not task.is_folder:
                task.fail("a folder of that name is in the way")
        self._resolve_conflicts(tasks, existing, overwrite, "download")
        _refuse_what_cannot_fit(tasks, target)
        return tasks

    def _remote_items(
        self, path: str, folders: dict[str, dict[str, dict[str, Any]]]
    ) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
        """The objects a download path names, each with its local path parts (empty: unsafe).

        ``folders`` caches the files directly in each parent folder, so choosing thousands of
        files in one folder costs one listing, not one request each.
        """
        parts = split_relative(path)
        key = self.location.key(path)
        if parts and not path.endswith("/"):
            parent = key.rsplit("/", 1)[0] + "/"
            if parent not in folders:
                folders[parent] = self._children(parent, path)[0]
            if key in folders[parent]:
                yield folders[parent][key], (parts[-1],)
                return
        folder = key if key.endswith("/") or not parts else key + "/"
        name = parts[-1] if parts else self.location.name
        found = False
        for item in self._objects(folder, path):
            found = True
            full = item["Key"]
            inside_folder = full.startswith(folder) and self.location.contains(full)
            rest = full[len(folder) :] if inside_folder else ""
            yield item, ((name, rest) if rest else (name,)) if inside_folder else ()
        if not found:
            raise NotFound(f"{path!r} does not exist in the dataset.")

    def _children(self, folder: str, path: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """One delimited listing of ``folder``: its files by key, and its sub-folder prefixes."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=folder, Delimiter="/"
        )
        files: dict[str, dict[str, Any]] = {}
        folders: set[str] = set()
        try:
            for page in pages:
                files.update((item["Key"], item) for item in page.get("Contents", []))
                folders.update(common.get("Prefix", "") for common in page.get("CommonPrefixes", []))
        except Exception as exc:
            raise self._translate(exc, "list", path) from None
        return files, folders

    def _download_task(
        self,
        item: dict[str, Any],
        parts: tuple[str, ...],
        target: Path,
        claimed: dict[str, str],
        case_insensitive: bool,
        inside: Containment,
    ) -> FileTask:
        key = str(item["Key"])
        size = int(item.get("Size", 0))
        modified = item.get("LastModified")
        if not parts:
            return FileTask(
                target,
                key,
                key,
                size,
                action="fail",
                reason="the server listed a key outside the requested folder",
            )
        path = self.location.relative(key)
        is_folder = key.endswith("/")
        safe = local_parts("/".join(parts))
        task = FileTask(
            target.joinpath(*safe) if isinstance(safe, tuple) else target,
            key,
            path,
            0 if is_folder else size,
            modified.timestamp() if modified else None,
            str(item.get("ETag", "")).strip('"') or None,
            is_folder=is_folder,
        )
        if isinstance(safe, str):
            task.fail(f"unsafe name: {safe}")
        elif not inside(task.local):
            task.fail("it would be written outside the download folder")
        elif is_folder and size:
            task.fail("a folder marker that holds data")
        else:
            folded = fold_name(safe, case_insensitive)
            other = claimed.setdefault(folded, path)
            if other != path:
                task.fail(f"it would overwrite {other} (names differ only by case)")
        return task

    def _resolve_conflicts(
        self,
        tasks: builtins.list[FileTask],
        existing: dict[str, Existing],
        overwrite: OverwritePolicy,
        direction: Direction,
    ) -> None:
        clashes: builtins.list[tuple[FileTask, Existing]] = []
        for task in tasks:
            if task.action != "transfer" or task.key not in existing:
                continue
            if task.is_folder:
                task.skip("the folder exists")
            else:
                clashes.append((task, existing[task.key]))
        if overwrite == "error" and clashes:
            names = ", ".join(task.path for task, _ in clashes[:3])
            more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
            raise AlreadyExists(
                f"{names}{more} already exist{'s' if len(clashes) == 1 else ''} at the "
                "destination; nothing was transferred (choose skip, newer or overwrite)."
            )
        for task, found in clashes:
            mode = overwrite(self._conflict(task, found, direction)) if callable(overwrite) else overwrite
            check_overwrite_mode(mode)
            if mode == "error":
                raise AlreadyExists(f"{task.path} already exists at the destination.")
            if direction == "download" and task.size == found.size and mode in ("skip", "newer"):
                task.mtime = self._source_mtime(task)
            decide(task, found, mode, functools.partial(self._same_content, task, found, direction))

    def _conflict(self, task: FileTask, found: Existing, direction: Direction) -> Conflict:
        source, destination = (
            (str(task.local), task.path) if direction == "upload" else (task.path, str(task.local))
        )
        return Conflict(
            source,
            destination,
            task.size,
            datetime.fromtimestamp(task.mtime, timezone.utc) if task.mtime is not None else None,
            found.size,
            datetime.fromtimestamp(found.mtime, timezone.utc),
        )

    def _source_mtime(self, task: FileTask) -> float | None:
        """A remote file's own modification time: the ``mtime`` metadata uploads carry."""
        response = self._call("read", task.path, "head_object", Key=task.key)
        stored = response.get("Metadata", {}).get("mtime")
        try:
            return float(stored) if stored else task.mtime
        except ValueError:
            return task.mtime

    def _same_content(self, task: FileTask, found: Existing, direction: Direction) -> bool:
        local, etag = (task.local, found.etag) if direction == "upload" else (task.local, task.etag)
        if not etag:
            return False
        sizes = (self.settings.part_size, self.settings.part_size_for(task.size))
        return etag_matches(local, etag, task.size, sizes)


def _refuse_what_cannot_fit(tasks: builtins.list[FileTask], target: Path) -> None:
    """Fail, up front, each file larger than the free space where it would go (a listing can claim
    any size; this also keeps a hostile size from reaching the disk at all)."""
    folder = target
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    for task in tasks:
        if task.action == "transfer" and task.size > free:
            task.fail(
                f"it needs {format_bytes(task.size)} but only {format_bytes(free)} are free on the disk"
            )


def parse_s3_timestamp(value: str) -> datetime:
    """S3's ISO 8601 times (``2026-11-25T17:30:13.000Z``) without dateutil, which took two thirds
    of the time to read a listing; anything else goes to botocore's own parser."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fallback: datetime = botocore_parse_timestamp(value)
        return fallback
    return parsed


def _listable(name: str) -> bool:
    """A name a listing may show: one path part, not ``.`` or ``..``, no control characters
    (a hostile or broken server can send anything)."""
    return bool(name) and "/" not in name and name not in (".", "..") and name.isprintable()


def _top_names(sources: builtins.list[Path]) -> builtins.list[str]:
    return [source.resolve().name if source.name in ("", ".", "..") else source.name for source in sources]


def _progress_callback(progress: Progress) -> ProgressCallback | None:
    if progress is None or progress is False:
        return None
    if progress == "text" or progress is True:
        return TextProgress()
    if callable(progress):
        return progress
    raise ProvenaWidgetsError(f"progress={progress!r} must be a callable, 'text' or None.")


def _write_refused(info: DatasetInfo) -> ProvenaWidgetsError:
    """The typed error for write credentials that Provena would refuse, said before asking."""
    reason = info.write_refusal or ""
    if info.locked:
        return DatasetLocked(f"{info.handle}: {reason}")
    if info.release_status in ("PENDING", "RELEASED"):
        return DatasetReleased(f"{info.handle}: {reason}")
    return MissingRole(f"{info.handle}: {reason}", "dataset-data-write")
