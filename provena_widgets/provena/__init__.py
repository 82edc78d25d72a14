"""Provena API client: device and offline login, dataset lookup, credential generation."""

from ..errors import (
    DatasetLocked,
    DatasetReleased,
    LoginFailed,
    MissingRole,
    NotLoggedIn,
    ProvenaError,
    ServiceBusy,
    UnknownDataset,
)
from .client import DatasetInfo, ProvenaClient
from .config import ProvenaConfig
from .login import DeviceLogin
from .site import SiteSettings
from .tokens import TokenCache

__all__ = [
    "DatasetInfo",
    "DatasetLocked",
    "DatasetReleased",
    "DeviceLogin",
    "LoginFailed",
    "MissingRole",
    "NotLoggedIn",
    "ProvenaClient",
    "ProvenaConfig",
    "ProvenaError",
    "ServiceBusy",
    "SiteSettings",
    "TokenCache",
    "UnknownDataset",
]
