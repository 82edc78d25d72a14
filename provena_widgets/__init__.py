"""provena-widgets: move data in and out of Provena Data Store dataset folders from notebooks."""

from typing import TYPE_CHECKING, Any

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
    SettingsError,
)
from .location import DatasetLocation
from .store import DatasetStore, Entry, Preview, Properties, StoreStatus
from .transfer.engine import CancelToken, TransferSettings
from .transfer.handle import Transfer
from .transfer.plan import Conflict
from .transfer.progress import FileProgress, TransferProgress
from .transfer.report import FileResult, TransferReport

if TYPE_CHECKING:
    from .widgets import CredentialPanel, Explorer, LocalBrowser, RemoteBrowser, ThisComputer, TransferPanel

__version__ = "0.1.0"
_WIDGETS = {"CredentialPanel", "Explorer", "LocalBrowser", "RemoteBrowser", "ThisComputer", "TransferPanel"}


def __getattr__(name: str) -> Any:
    """The widgets load on first use: headless scripts then start without ipywidgets' import cost."""
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "LocalBrowser",
    "LocalPathError",
    "LocationError",
    "NetworkError",
    "NotFound",
    "OutsideDataset",
    "Preview",
    "Properties",
    "ProtectedFile",
    "ProvenaWidgetsError",
    "RemoteBrowser",
    "SettingsError",
    "StoreStatus",
    "ThisComputer",
    "Transfer",
    "TransferPanel",
    "TransferProgress",
    "TransferReport",
    "TransferSettings",
]
