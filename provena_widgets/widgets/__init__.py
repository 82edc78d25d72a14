"""Notebook widgets: ipywidgets and one anywidget table (no lab extension): Lab, Notebook 7, Voila, Hub."""

from .browser import RemoteBrowser
from .computer import ThisComputer
from .credentials import CredentialPanel
from .explorer import Explorer
from .filetable import FileTable
from .local_browser import LocalBrowser
from .transfers import TransferPanel

__all__ = [
    "CredentialPanel",
    "Explorer",
    "FileTable",
    "LocalBrowser",
    "RemoteBrowser",
    "ThisComputer",
    "TransferPanel",
]
