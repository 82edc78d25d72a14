"""Typed errors, each carrying one plain-language line a non-programmer can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .transfer.report import TransferReport


class ProvenaWidgetsError(Exception):
    """Base class: ``str(err)`` is a single line saying what happened and what to do next.

    When a transfer stops on the error, ``report`` says what happened to each file.
    """

    report: TransferReport | None = None

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class CredentialsError(ProvenaWidgetsError):
    """Something is wrong with the AWS credentials."""


class CredentialsFormatError(CredentialsError, ValueError):
    """Pasted or typed credentials are missing a field or have a malformed one."""


class CredentialsInvalid(CredentialsError):
    """The server does not accept the credentials (unknown key, wrong secret, bad token)."""


class CredentialsExpired(CredentialsError):
    """The temporary credentials have expired."""


class LocationError(ProvenaWidgetsError, ValueError):
    """A dataset location (handle, s3:// URI, /bucket/prefix/) could not be understood."""


class SettingsError(ProvenaWidgetsError, ValueError):
    """A site setting has a value that cannot work; ``variable`` names its environment variable (or file)."""

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class InvalidPath(ProvenaWidgetsError, ValueError):
    """A path inside the dataset is malformed (backslashes, empty parts, control characters)."""


class OutsideDataset(InvalidPath):
    """A path resolves outside the dataset folder; refused before any request is made."""


class LocalPathError(ProvenaWidgetsError, OSError):
    """A local file or folder does not exist, cannot be read, or is not a regular file."""


class DiskFull(LocalPathError):
    """The local disk (or the user's quota) has no room for the download."""


class AccessDenied(ProvenaWidgetsError):
    """The credentials are valid but do not allow this action on this dataset."""


class NotFound(ProvenaWidgetsError):
    """The file, folder or bucket does not exist."""


class AlreadyExists(ProvenaWidgetsError):
    """The destination exists and ``overwrite="error"`` was asked for."""


class ProtectedFile(ProvenaWidgetsError):
    """The action would change Provena's own ``metadata.json``."""


class NetworkError(ProvenaWidgetsError):
    """The storage service could not be reached or kept failing."""


class IncompleteTransfer(NetworkError):
    """Fewer bytes arrived than were promised (a dropped connection); worth retrying."""


class IntegrityError(ProvenaWidgetsError):
    """Transferred bytes did not match what the source holds."""


class ProvenaError(ProvenaWidgetsError):
    """The Provena API or its login refused or failed."""


class NotLoggedIn(ProvenaError):
    """No valid Provena login: log in first (or again)."""


class LoginFailed(ProvenaError):
    """The device login was denied, expired or cancelled."""


class MissingRole(ProvenaError):
    """The user lacks a role; ``role`` names the one to request."""

    def __init__(self, message: str, role: str = "") -> None:
        super().__init__(message)
        self.role = role


class DatasetLocked(ProvenaError):
    """The dataset is locked: its files cannot be changed until it is unlocked."""


class DatasetReleased(ProvenaError):
    """The dataset is pending review or released: its files can no longer be changed."""


class UnknownDataset(ProvenaError):
    """No dataset has that handle (or it is not a complete dataset record)."""


class ServiceBusy(ProvenaError):
    """Provena did not answer in time or failed on its side; try again shortly."""
