"""DatasetStore: list, upload, download, sync, copy, move, mkdir and delete inside one dataset folder."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .credentials import Credentials
from .errors import DatasetLocked, DatasetReleased, InvalidPath, MissingRole, ProvenaWidgetsError
from .folder.connection import DEFAULT_REGION, Connection
from .folder.copying import CopyOptions, CopyRequest, named_requests, plan_copy, rename_request
from .folder.incoming import IncomingUpload
from .folder.listing import Entry, entry_pages, walk
from .folder.outgoing import Emit, Outgoing, outgoing_files, send_out
from .folder.planning import plan_download, plan_upload
from .folder.presign import PRESIGN_SECONDS, presigned_get
from .folder.preview import Preview, preview
from .folder.properties import Properties, properties
from .folder.removal import delete_keys, keys_to_delete
from .location import DatasetLocation
from .store_sync import SyncCalls
from .transfer.engine import CancelToken, TransferEngine, TransferSettings
from .transfer.handle import Transfer
from .transfer.localfs import LocalPath
from .transfer.plan import FileTask, OverwritePolicy
from .transfer.progress import Progress, progress_callback
from .transfer.report import Direction, TransferReport
from .transfer.settings import MiB
from .transfer.streamed import KeptUploads

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .folder.fs import DatasetFileSystem
    from .provena.client import DatasetInfo, ProvenaClient

__all__ = ["DEFAULT_REGION", "DatasetStore", "Entry", "Preview", "Properties", "StoreStatus"]

Paths = Iterable[str] | str  # one dataset path, or several


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


class DatasetStore(SyncCalls):
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
        connection = Connection(credentials, self.location, endpoint_url, region, self.settings, renew)
        self._connection = connection
        self.endpoint_url = connection.endpoint_url
        self._engine = TransferEngine(
            connection.client,
            self.location.bucket,
            connection.translate,
            self.settings,
            self.endpoint_url,
            connection.ranged_client,
            connection.crt,
        )
        self.dataset: DatasetInfo | None = None  # the registry record, when opened from Provena
        self.kept_uploads = KeptUploads(connection.client, self.location.bucket)  # for receive()
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
        return self._connection.credentials

    @property
    def renews(self) -> bool:
        """True when credentials are renewed automatically before they expire."""
        return self._connection.renews

    @property
    def client(self) -> Any:
        """The underlying boto3 S3 client, for anything this class does not cover."""
        return self._connection.client

    def check(self) -> StoreStatus:
        """One cheap request proving the credentials work for this folder."""
        self._connection.ensure_credentials()
        response = self._connection.call(
            "open", "the dataset folder", "list_objects_v2", Prefix=self.location.prefix, MaxKeys=1
        )
        return StoreStatus(
            self.location,
            self.endpoint_url,
            bool(response.get("KeyCount") or response.get("Contents")),
            self.credentials.expiry,
        )

    # -- reading in place (fsspec) -----------------------------------------------------------

    @property
    def fs(self) -> DatasetFileSystem:
        """An fsspec file system on the dataset folder (needs ``fsspec``): dataset-relative paths,
        this store's credentials and their renewal; nothing outside the folder is reachable."""
        from .folder.fs import DatasetFileSystem  # fsspec is an optional extra

        return DatasetFileSystem(self._connection)

    def open(self, path: str, mode: str = "rb", **options: Any) -> Any:
        """A file object on a dataset file, read (or written) in place: ``pd.read_csv(store.open(p))``."""
        return self.fs.open(path, mode, **options)

    @property
    def storage_options(self) -> dict[str, Any]:
        """What fsspec needs for ``provena://`` paths, in this process or on Dask workers:
        ``dd.read_csv("provena://data/*.csv", storage_options=store.storage_options)``. They hold
        the credentials of now, which do not renew: read them afresh for each computation."""
        from .folder.fs import storage_options  # fsspec is an optional extra

        return storage_options(self._connection)

    def url(self, path: str = "") -> str:
        """The ``s3://`` URL of a dataset path, for tools with S3 credentials of their own."""
        return f"s3://{self.location.bucket}/{self.location.key(path)}"

    # -- listing -----------------------------------------------------------------------------

    def list(self, path: str = "") -> builtins.list[Entry]:
        """The folder's entries: sub-folders (from CommonPrefixes) first, then files, by name."""
        entries = [entry for page in self.iter_pages(path) for entry in page]
        return sorted(entries, key=lambda entry: (not entry.is_dir, entry.name.casefold()))

    def iter_pages(self, path: str = "", page_size: int = 1000) -> Iterator[builtins.list[Entry]]:
        """The folder's entries one server page at a time, for folders with many thousands."""
        return entry_pages(self._connection, path, page_size)

    def walk(self, path: str = "") -> Iterator[Entry]:
        """Every object under ``path`` (recursive), folder markers included."""
        return walk(self._connection, path)

    # -- changing the folder -----------------------------------------------------------------

    def mkdir(self, path: str) -> str:
        """Create an (empty) folder; returns its dataset-relative path, ending in ``/``."""
        self._connection.ensure_credentials()
        key = self.location.key(path, folder=True)
        if key == self.location.prefix:
            raise InvalidPath("Give the new folder a name.")
        self._connection.call("create a folder in", path, "put_object", Key=key, Body=b"")
        return self.location.relative(key)

    def delete(self, paths: Iterable[str] | str, *, allow_metadata: bool = False) -> builtins.list[str]:
        """Delete files and folders (recursively); returns the dataset-relative keys removed.

        Everything is checked before anything is deleted. Provena's root ``metadata.json`` is
        refused unless ``allow_metadata=True``.
        """
        self._connection.ensure_credentials()
        named = [paths] if isinstance(paths, str) else builtins.list(paths)
        return delete_keys(self._connection, keys_to_delete(self._connection, named, allow_metadata))

    def preview(self, path: str, limit: int = MiB) -> Preview:
        """Quick look at a file from its first ``limit`` bytes (one ranged GET, never more)."""
        return preview(self._connection, path, limit)

    def properties(self, path: str) -> Properties:
        """Size, times, ETag, stored checksum and type of a file; files and size of a folder."""
        return properties(self._connection, path)

    # -- copying and moving on the server ----------------------------------------------------

    def copy(self, paths: Paths, to: str = "", **options: Unpack[CopyOptions]) -> TransferReport:
        """Copy files and folders (recursively) into the dataset folder ``to``, on the server
        (options: :class:`~.folder.copying.CopyOptions`; by default a different object in the
        way refuses the whole copy with :class:`AlreadyExists`)."""
        return self._copy("copy", named_requests(_paths(paths)), to, options)

    def move(self, paths: Paths, to: str = "", **options: Unpack[CopyOptions]) -> TransferReport:
        """Like :meth:`copy`, deleting each source once its copy is complete; a failure leaves
        the source in place. Running an interrupted move again finishes it."""
        return self._copy("move", named_requests(_paths(paths)), to, options)

    def rename(self, path: str, new_name: str, **options: Unpack[CopyOptions]) -> TransferReport:
        """Rename a file or folder within its folder (a move; quiet unless ``progress`` is given)."""
        request, parent = rename_request(path, new_name)
        options.setdefault("progress", None)
        return self._copy("move", [request], parent, options)

    def start_copy(self, paths: Paths, to: str = "", **options: Unpack[CopyOptions]) -> Transfer:
        """Like :meth:`copy`, in the background; returns a :class:`Transfer`."""
        return self._start("copy", named_requests(_paths(paths)), to, options)

    def start_move(self, paths: Paths, to: str = "", **options: Unpack[CopyOptions]) -> Transfer:
        """Like :meth:`move`, in the background; returns a :class:`Transfer`."""
        return self._start("move", named_requests(_paths(paths)), to, options)

    def _copy(
        self, direction: Direction, requests: builtins.list[CopyRequest], to: str, options: CopyOptions
    ) -> TransferReport:
        tasks = plan_copy(self._connection, requests, to, options, move=direction == "move")
        return self._execute(direction, tasks, options.get("progress", "text"), options.get("cancel"))

    def _start(
        self, direction: Direction, requests: builtins.list[CopyRequest], to: str, options: CopyOptions
    ) -> Transfer:
        def work(token: CancelToken) -> TransferReport:
            return self._copy(direction, requests, to, {**options, "cancel": token})

        return Transfer(work, direction).start()

    # -- transfers ---------------------------------------------------------------------------

    def plan_upload(
        self,
        sources: Iterable[LocalPath] | LocalPath,
        to: str = "",
        *,
        overwrite: OverwritePolicy = "skip",
        allow_metadata: bool = False,
    ) -> builtins.list[FileTask]:
        """Decide, without changing anything, what an upload would do with each file."""
        return plan_upload(self._connection, sources, to, overwrite, allow_metadata)

    def plan_download(
        self, paths: Iterable[str] | str, to: LocalPath = ".", *, overwrite: OverwritePolicy = "skip"
    ) -> builtins.list[FileTask]:
        """Decide, without changing anything, what a download would do with each file."""
        return plan_download(self._connection, paths, to, overwrite)

    def upload(
        self,
        sources: Iterable[LocalPath] | LocalPath,
        to: str = "",
        *,
        overwrite: OverwritePolicy = "skip",
        progress: Progress = "text",
        allow_metadata: bool = False,
        cancel: CancelToken | None = None,
        cluster: Any = None,
    ) -> TransferReport:
        """Upload local files and folders into the dataset folder ``to``.

        A folder keeps its own name (``results/`` into ``sub/`` gives ``sub/results/...``).
        ``overwrite``: ``"skip"`` (same size, not newer), ``"overwrite"``, ``"newer"``,
        ``"different"`` (size or checksum), ``"error"``, or a callable deciding per
        :class:`Conflict`. ``progress``: a callback, ``"text"`` for a text line, or None.
        ``cluster``: a ``distributed.Client`` to run the transfer on its workers, which must share
        the local files' file system (see :mod:`provena_widgets.cluster`).
        """
        tasks = self.plan_upload(sources, to, overwrite=overwrite, allow_metadata=allow_metadata)
        return self._execute("upload", tasks, progress, cancel, cluster)

    def download(
        self,
        paths: Iterable[str] | str,
        to: LocalPath = ".",
        *,
        overwrite: OverwritePolicy = "skip",
        progress: Progress = "text",
        cancel: CancelToken | None = None,
        cluster: Any = None,
    ) -> TransferReport:
        """Download dataset files and folders into the local folder ``to``.

        A folder keeps its own name (``sub/results/`` into ``out/`` gives ``out/results/...``).
        Files are written under a temporary name and renamed only when complete.
        """
        tasks = self.plan_download(paths, to, overwrite=overwrite)
        return self._execute("download", tasks, progress, cancel, cluster)

    def start_upload(
        self, sources: Iterable[LocalPath] | LocalPath, to: str = "", **options: Any
    ) -> Transfer:
        """Like :meth:`upload`, in the background; returns a :class:`Transfer` to cancel or wait."""
        return Transfer(lambda token: self.upload(sources, to, cancel=token, **options), "upload").start()

    def start_download(self, paths: Iterable[str] | str, to: LocalPath = ".", **options: Any) -> Transfer:
        """Like :meth:`download`, in the background; returns a :class:`Transfer`."""
        return Transfer(lambda token: self.download(paths, to, cancel=token, **options), "download").start()

    def receive(self, to: str = "", **options: Any) -> IncomingUpload:
        """Files streamed in from elsewhere (the browser's computer) into the folder ``to``: offer,
        write, finish (see :class:`~.folder.incoming.IncomingUpload` for the options)."""
        return IncomingUpload(self._connection, self.kept_uploads, to, **options)

    def outgoing(self, paths: Paths) -> builtins.list[Outgoing]:
        """The files that sending ``paths`` elsewhere would send (folders recursively)."""
        return outgoing_files(self._connection, _paths(paths))

    def send_out(
        self, items: builtins.list[Outgoing], emit: Emit, chunk_size: int = MiB, as_zip: bool = False
    ) -> int:
        """Stream one file, or ``items`` as one .zip, through ``emit`` in chunks; returns the size."""
        return send_out(self._connection, items, emit, chunk_size, as_zip)

    def presigned_url(self, path: str, seconds: int = PRESIGN_SECONDS) -> str:
        """A short-lived GET URL of a dataset file (it carries the session token: never save it)."""
        return presigned_get(self._connection, path, seconds)

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
        cluster: Any = None,
    ) -> TransferReport:
        token = cancel or CancelToken()
        with self._running_lock:
            self._running.add(token)
        try:
            if cluster is not None:
                from .cluster.fanout import run_on_cluster  # distributed is an optional extra

                return run_on_cluster(
                    cluster, self._connection, direction, tasks, progress_callback(progress), token
                )
            return self._engine.run(direction, tasks, progress_callback(progress), token)
        finally:
            with self._running_lock:
                self._running.discard(token)


def _paths(paths: Paths) -> builtins.list[str]:
    return [paths] if isinstance(paths, str) else builtins.list(paths)


def _write_refused(info: DatasetInfo) -> ProvenaWidgetsError:
    """The typed error for write credentials that Provena would refuse, said before asking."""
    reason = info.write_refusal or ""
    if info.locked:
        return DatasetLocked(f"{info.handle}: {reason}")
    if info.release_status in ("PENDING", "RELEASED"):
        return DatasetReleased(f"{info.handle}: {reason}")
    return MissingRole(f"{info.handle}: {reason}", "dataset-data-write")
