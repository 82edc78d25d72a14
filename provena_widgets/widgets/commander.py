"""Commander: the kernel's files and the dataset side by side, as in WinSCP's Commander window."""

from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as widgets

from .browser import RemoteBrowser
from .common import friendly
from .local_browser import LocalBrowser
from .transfers import TransferPanel


def _pane() -> widgets.Layout:
    """Two panes of at least 300 px and the arrows: below ~700 px they stack."""
    return widgets.Layout(flex="1 1 300px", min_width="0")


def _title(pane: widgets.Box, title: str, hint: str) -> None:
    """A heading over ``pane``, saying whose files it shows (WinSCP's panes show it by drive)."""
    heading = widgets.HTML(f'<span title="{hint}"><b>{title}</b></span>')
    heading.add_class("provena-pane-title")
    pane.children = (heading, *pane.children)


class Commander(widgets.HBox):
    """``local`` and ``browser`` side by side with "Upload →" and "← Download" between them (the
    panel's buttons). Rows dragged from one pane onto the other (or onto a folder row in it)
    transfer through ``transfers``; rows dragged onto a folder row of the dataset pane move there."""

    def __init__(self, local: LocalBrowser, browser: RemoteBrowser, transfers: TransferPanel) -> None:
        self.local, self.browser, self.transfers = local, browser, transfers
        transfers.upload_button.description, transfers.upload_button.icon = "Upload →", ""
        transfers.download_button.description, transfers.download_button.icon = "← Download", ""
        transfers.upload_button.tooltip = "Upload the local selection into the dataset folder shown"
        transfers.download_button.tooltip = "Download the dataset selection into the local folder shown"
        arrows = widgets.VBox(
            [transfers.upload_button, transfers.download_button],
            layout=widgets.Layout(flex="0 0 auto", justify_content="center", grid_gap="8px", padding="0 4px"),
        )
        arrows.add_class("provena-arrows")
        local.layout, browser.layout = _pane(), _pane()
        _title(local, "Files on the Jupyter server", "where the kernel runs: on a hub, not your computer")
        _title(browser, "Dataset folder", "the dataset's files in the data store (S3)")
        super().__init__(
            [local, arrows, browser],
            layout=widgets.Layout(flex_flow="row wrap", align_items="stretch", grid_gap="8px", width="100%"),
        )
        self.add_class("provena-commander")
        local.table.on_drop(self._onto_local)
        browser.table.on_drop(self._onto_dataset)

    def _onto_dataset(self, source: str, names: list[str], folder: str) -> None:
        where = self.browser.paths_of([folder])[0]  # the folder row dropped onto, or the folder shown
        if source == self.local.table.table_id:
            paths: list[str | os.PathLike[str]] = list(self.local.local_paths(names))
            self.transfers.attempt(lambda: self.transfers.upload(paths, to=where))
        elif source == self.browser.table.table_id and folder:
            try:
                self.browser.send_to("move", self.browser.paths_of(names), where)
            except Exception as exc:
                self.browser.status.show(friendly(exc), "error")

    def _onto_local(self, source: str, names: list[str], folder: str) -> None:
        if source == self.browser.table.table_id:
            keys = self.browser.paths_of(names)
            where = Path(self.local.root, self.local.paths_of([folder])[0])
            self.transfers.attempt(lambda: self.transfers.download(keys, to=where))
        elif source == self.local.table.table_id:
            self.local.status.show("Files move within the dataset pane only; here, drag them across.", "info")
