"""Explorer: the credential panel, the dataset browser and the transfer panel, composed."""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as widgets

from ..credentials import Credentials
from ..location import DatasetLocation
from ..provena.client import ProvenaClient
from ..provena.config import ProvenaConfig
from ..store import DatasetStore
from .browser import RemoteBrowser
from .commander import Commander
from .computer import ThisComputer
from .credentials import CredentialPanel
from .local_browser import LocalBrowser
from .transfers import TransferPanel


class Explorer(widgets.VBox):
    """WinSCP's Commander window for one dataset folder, in a notebook: the kernel's files
    (``local``, starting in ``local_path``) and the dataset (``browser``) side by side, the
    transfer queue (``transfers``) below, and once connected ``computer``: uploads from the
    computer the browser runs on into the folder shown, downloads of the selection to it (on a
    JupyterHub the kernel's files are not the user's).

    ``Explorer()`` asks for credentials; given ``credentials`` and ``location`` it connects and
    opens straight on the folder. With ``provena`` (a client or config) it offers the Provena
    login and opens the folder named in the dataset's record. Without ``provena``, ``endpoint_url``
    or ``region``, the site's settings give them (:class:`CredentialPanel`), so on a JupyterHub
    set up for Provena ``Explorer()`` offers the login. ``store`` is the connected
    :class:`DatasetStore`.
    """

    def __init__(
        self,
        credentials: Credentials | str | None = None,
        location: DatasetLocation | str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        local_path: str | os.PathLike[str] = ".",
        provena: ProvenaClient | ProvenaConfig | None = None,
        handle: str = "",
        **kwargs: Any,
    ) -> None:
        creds = Credentials.parse(credentials) if isinstance(credentials, str) else credentials
        self.credentials_panel = CredentialPanel(creds, location, endpoint_url, region, provena, handle)
        self.local = LocalBrowser(start=local_path)
        self.browser = RemoteBrowser()
        self.transfers = TransferPanel(browser=self.browser, local_path=local_path, local=self.local)
        self.commander = Commander(self.local, self.browser, self.transfers)
        self.computer: ThisComputer | None = None
        self._computer_slot = widgets.Box()
        self._login = widgets.Accordion([self.credentials_panel])
        self._login.set_title(0, "Credentials")
        self._login.selected_index = 0
        self.credentials_panel.observe(self._connected, names="store")
        super().__init__(
            [
                self._login,
                self.commander,
                self._computer_slot,
                widgets.HTML("<b>Transfers</b>"),
                self.transfers,
            ],
            **kwargs,
        )
        self.add_class("provena-explorer")
        if creds is not None and location is not None:
            self.credentials_panel.connect_in_background()

    @property
    def store(self) -> DatasetStore | None:
        return self.credentials_panel.store

    def _connected(self, change: dict[str, Any]) -> None:
        store: DatasetStore | None = change["new"]
        if store is None:
            return
        self._login.set_title(0, f"Credentials: connected to {store.location.s3_uri}")
        self._login.selected_index = None
        self.browser.path = ""
        self.browser.store = store
        self.computer = ThisComputer(store, target=self.browser.path)
        widgets.dlink((self.browser, "path"), (self.computer, "target"))
        widgets.dlink((self.browser, "selected"), (self.computer, "selected"))  # dataset paths both
        self.computer.observe(self._computer_finished, names="busy")
        self._computer_slot.children = (self.computer,)

    def _computer_finished(self, change: dict[str, Any]) -> None:
        """An upload from this computer ended: the dataset pane shows what arrived."""
        if not change["new"]:
            self.browser.refresh()

    def wait(self, timeout: float | None = 120) -> None:
        """Wait for connecting, loading and any transfer started from the UI."""
        self.credentials_panel.wait(timeout)
        self.transfers.wait(timeout)
        self.browser.wait(timeout)  # last: a finished upload refreshes the browser
        self.local.wait(timeout)
