"""provena-widgets: move data in and out of Provena Data Store dataset folders from notebooks."""

from .credentials import Credentials
from .errors import (
    AccessDenied,
    AlreadyExists,
    CredentialsError,
    CredentialsExpired,
    CredentialsFormatError,
    CredentialsInvalid,
    DiskFull,
    IntegrityError,
    InvalidPath,
    LocalPathError,
    LocationError,
    NetworkError,
    NotFound,
    OutsideDataset,
    ProtectedFile,
    ProvenaWidgetsError,
)
from .location import DatasetLocation
from .store import DatasetStore, Entry, StoreStatus
from .transfer.engine import CancelToken, TransferSettings
from .transfer.handle import Transfer
from .transfer.plan import Conflict
from .transfer.progress import FileProgress, TransferProgress
from .transfer.report import FileResult, TransferReport
from .widgets import CredentialPanel, Explorer, RemoteBrowser, TransferPanel

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "CancelToken",
    "Conflict",
    "CredentialPanel",
    "Credentials",
    "CredentialsError",
    "CredentialsExpired",
    "CredentialsFormatError",
    "CredentialsInvalid",
    "DatasetLocation",
    "DatasetStore",
    "DiskFull",
    "Entry",
    "Explorer",
    "FileProgress",
    "FileResult",
    "IntegrityError",
    "InvalidPath",
    "LocalPathError",
    "LocationError",
    "NetworkError",
    "NotFound",
    "OutsideDataset",
    "ProtectedFile",
    "ProvenaWidgetsError",
    "RemoteBrowser",
    "StoreStatus",
    "Transfer",
    "TransferPanel",
    "TransferProgress",
    "TransferReport",
    "TransferSettings",
]
