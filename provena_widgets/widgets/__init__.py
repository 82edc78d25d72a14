"""Notebook widgets: plain ipywidgets (no lab extension), for JupyterLab, Notebook 7, Voila, Hub."""

from .browser import RemoteBrowser
from .credentials import CredentialPanel
from .explorer import Explorer
from .transfers import TransferPanel

__all__ = ["CredentialPanel", "Explorer", "RemoteBrowser", "TransferPanel"]
