"""TransferPanel: a local picker, Upload / Download / Cancel, progress bars and a log."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets
from ipyfilechooser import FileChooser

from ..store import DatasetStore
from ..sync import SyncPlan
from ..transfer.handle import Transfer
from ..transfer.plan import Conflict, OverwriteMode
from ..transfer.progress import TransferProgress
from ..transfer.report import TransferReport
from .browser import RemoteBrowser
from .common import Level, NeedsInput, StatusLine, button, friendly, toolbar
from .local_browser import LocalBrowser
from .progress_view import active_files_html, conflict_question, log_html, progress_line
from .sync_box import SyncBox

UI_INTERVAL = 0.4  # seconds between updates sent to the browser: up to 4 messages each, so ≤10 a second
LOG_LINES = 300


def active_dask_client() -> Any | None:
    """The kernel's default ``distributed.Client`` if one is running; never imports distributed
    (no client can exist before it is imported) nor starts a client."""
    if "distributed" not in sys.modules:
        return None
    from distributed.client import default_client

    try:
        client = default_client()
    except ValueError:  # no client made yet, or all closed
        return None
    return client if client.status == "running" else None


class _AskPrompt(widgets.VBox):
    """ "This file exists: overwrite or skip?" with apply-to-all; answered from the browser."""

    def __init__(self) -> None:
        self.text = widgets.HTML()
        self.overwrite_button = button("Overwrite", "provena-ask-overwrite", style="warning")
        self.skip_button = button("Skip", "provena-ask-skip")
        self.apply_all = widgets.Checkbox(description="Do this for all remaining files", indent=False)
        self.apply_all.add_class("provena-ask-all")
        super().__init__(
            [self.text, widgets.HBox([self.overwrite_button, self.skip_button, self.apply_all])],
            layout=widgets.Layout(display="none", border="1px solid #d4a72c", padding="4px"),
        )
        self.add_class("provena-ask")
        self._answer: OverwriteMode | None = None
        self._answered = threading.Event()
        self._for_all: OverwriteMode | None = None
        self.overwrite_button.on_click(lambda _: self.answer("overwrite"))
        self.skip_button.on_click(lambda _: self.answer("skip"))

    def reset(self) -> None:
        self._for_all = None

    def __call__(self, conflict: Conflict) -> OverwriteMode:
        """Called from the transfer's planning thread: show the question, wait for the answer."""
        if self._for_all is not None:
            return self._for_all
        self.text.value = conflict_question(conflict)
        self._answered.clear()
        self.layout.display = "flex"
        self._answered.wait()
        self.layout.display = "none"
        answer = self._answer or "skip"
        if self.apply_all.value:
            self._for_all = answer
        return answer

    @property
    def waiting(self) -> bool:
        return bool(self.layout.display == "flex")

    def answer(self, answer: OverwriteMode) -> None:
        """Answer the question being shown (what the buttons do)."""
        self._answer = answer
        self._answered.set()


class TransferPanel(widgets.VBox):
    """Pick local files or folders, upload them into the browser's folder, download its selection.

    The local side is ``local`` (a :class:`LocalBrowser`: its selection goes up, downloads land in
    its folder) or, without one, an ipyfilechooser picker. The browser's Download and Upload here,
    moves and copies run here too. Transfers run in the background; ``transfer`` is the one
    running (or last run). Traits to observe: ``busy`` (a transfer is running) and ``report``
    (the last one's result, ``None`` while it runs). With a ``distributed.Client`` active, "Run on
    the Dask cluster" sends uploads, downloads and syncs to its workers (see :meth:`refresh_cluster`).
    """

    store = traitlets.Instance(DatasetStore, allow_none=True)
    busy = traitlets.Bool(False, read_only=True, help="a transfer is running")
    report = traitlets.Instance(
        TransferReport, allow_none=True, read_only=True, help="the result of the last transfer"
    )

    def __init__(
        self,
        store: DatasetStore | None = None,
        browser: RemoteBrowser | None = None,
        local_path: str | os.PathLike[str] = ".",
        local: LocalBrowser | None = None,
        **kwargs: Any,
    ) -> None:
        self.browser = browser
        self.local = local
        self.chooser = FileChooser(os.fspath(Path(local_path).expanduser().resolve()), select_default=False)
        self.chooser.show_hidden = False
        self.chooser.title = "<b>Local file or folder</b>"
        self.chooser.add_class("provena-local-picker")
        self.overwrite = widgets.Dropdown(
            options=[
                ("Ask me", "ask"),
                ("Skip if same size and not newer", "skip"),
                ("Overwrite", "overwrite"),
                ("Only if newer", "newer"),
            ],
            value="ask",
            description="If it exists",
        )
        self.overwrite.add_class("provena-overwrite")
        self.overwrite.style = {"description_width": "initial"}
        self.on_cluster = widgets.Checkbox(
            description="Run on the Dask cluster",
            indent=False,
            layout=widgets.Layout(width="auto", display="none"),
        )
        self.on_cluster.add_class("provena-on-cluster")
        self._client: Any | None = None
        self.upload_button = button("Upload", "provena-upload", icon="upload", style="success")
        self.download_button = button("Download", "provena-download", icon="download", style="info")
        self.cancel_button = button("Cancel", "provena-cancel", icon="stop", style="danger")
        self.cancel_button.disabled = True
        self.total_bar = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="100%"))
        self.total_bar.add_class("provena-total-bar")
        self.total_label = widgets.Label()
        self.total_label.add_class("provena-total-label")
        self.files_view = widgets.HTML()  # files in flight, drawn in one widget: one message per update
        self.files_view.add_class("provena-active-files")
        self.status = StatusLine()
        self.log_view = widgets.HTML()
        self.log_view.add_class("provena-log")
        log_box = widgets.Accordion([self.log_view])
        log_box.set_title(0, "Log")
        log_box.selected_index = None
        self.ask = _AskPrompt()
        self._log: list[str] = []
        self._logged = 0
        self._last_render = 0.0
        self.transfer: Transfer | None = None
        self.sync = SyncBox(self._plan_sync, self._start_sync, self.status)
        sync_box = widgets.Accordion([self.sync])
        sync_box.set_title(0, "Sync a folder (preview first)")
        sync_box.selected_index = None

        self.upload_button.on_click(lambda _: self.attempt(self.upload))
        self.download_button.on_click(lambda _: self.attempt(self.download))
        self.cancel_button.on_click(lambda _: self.cancel())
        super().__init__(
            [
                *([self.chooser] if local is None else []),
                toolbar(
                    *([self.upload_button, self.download_button] if local is None else []),
                    self.overwrite,
                    self.on_cluster,
                    self.cancel_button,
                ),
                self.ask,
                self.total_bar,
                self.total_label,
                self.files_view,
                self.status,
                sync_box,
                log_box,
            ],
            **kwargs,
        )
        self.add_class("provena-transfer-panel")
        self.refresh_cluster()
        if store is None and browser is not None:
            store = browser.store
        self.store = store
        if browser is not None:
            browser.observe(lambda change: setattr(self, "store", change["new"]), names="store")
            browser.transfer_runner = self.start
            browser.table.on_action(self._on_browser_action)

    # -- state for code ----------------------------------------------------------------------

    @traitlets.observe("busy")
    def _on_busy(self, change: dict[str, Any]) -> None:
        running = change["new"]
        self.upload_button.disabled = self.download_button.disabled = running
        self.sync.preview_button.disabled = running
        self.cancel_button.disabled = not running

    @property
    def local_selection(self) -> Path | None:
        if self.local is not None:
            chosen = self.local.selected
            return Path(self.local.root, chosen[0]) if chosen else None
        picked = self.chooser.selected
        return Path(picked) if picked else None

    def choose_local(self, path: str | os.PathLike[str]) -> None:
        """Select a local file or folder in the picker (or the local pane), as clicking it would."""
        target = Path(path).expanduser().resolve()
        if self.local is not None:
            self.local.open_folder(target.parent.relative_to(self.local.root).as_posix())
            self.local.wait()
            self.local.selected = [target.relative_to(self.local.root).as_posix() + "/" * target.is_dir()]
        elif target.is_dir():
            self.chooser.reset(path=str(target), filename="")
        else:
            self.chooser.reset(path=str(target.parent), filename=target.name)
        self.chooser._apply_selection()

    @property
    def cluster(self) -> Any | None:
        """The client uploads, downloads and syncs run on: the active one, if "Run on the Dask
        cluster" is ticked."""
        return self._client if self.on_cluster.value else None

    def refresh_cluster(self) -> int:
        """Offer "Run on the Dask cluster (N workers)" if a client is active, else hide it; returns N
        (done on display and before each transfer)."""
        self._client = active_dask_client()
        if self._client is None:
            self.on_cluster.layout.display = "none"
            return 0
        workers = len(self._client.nthreads())  # every worker (scheduler_info() lists 5 in some versions)
        self.on_cluster.description = f"Run on the Dask cluster ({workers} worker{'s' * (workers != 1)})"
        self.on_cluster.layout.display = "flex"
        return workers

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.refresh_cluster()
        return super()._repr_mimebundle_(**kwargs)

    def wait(self, timeout: float | None = 120) -> None:
        """Wait for the running transfer (for scripts and tests); errors show in the panel."""
        if self.transfer is not None:
            with contextlib.suppress(Exception):  # already shown in the status line
                self.transfer.wait(timeout)

    # -- actions -----------------------------------------------------------------------------

    def _on_browser_action(self, action: str, names: list[str], _: str | None) -> None:
        """The dataset table's Download (its rows into the local folder) and Upload here."""
        if action == "download" and self.browser is not None:
            keys = self.browser.paths_of(names)
            self.attempt(lambda: self.download(keys))
        elif action == "upload":
            self.attempt(self.upload)

    def start(self, direction: str, start: Callable[..., Transfer]) -> Transfer:
        """Run ``start(overwrite=..., progress=...)`` (a ``store.start_*`` call) with this panel's
        progress, Cancel and report: what the browser's moves and copies go through."""
        self._need_store()
        return self._start(direction, start)

    def attempt(self, action: Callable[[], Any]) -> None:
        """Run ``action``; an error shows as one line in the status, never a traceback."""
        try:
            action()
        except Exception as exc:
            self.status.show(friendly(exc), "error")

    def upload(self, paths: list[str | os.PathLike[str]] | None = None, to: str | None = None) -> Transfer:
        """Upload ``paths`` (default: the local selection) into ``to`` (default: the browser's folder)."""
        store = self._need_store()
        sources = paths if paths is not None else self._local_sources()
        target = to if to is not None else (self.browser.path if self.browser is not None else "")
        return self._start(
            "upload", lambda **o: store.start_upload(sources, target, cluster=self.cluster, **o)
        )

    def download(self, paths: list[str] | None = None, to: str | os.PathLike[str] | None = None) -> Transfer:
        """Download ``paths`` (default: the browser's selection) into ``to`` (default: the chosen folder)."""
        store = self._need_store()
        keys = paths if paths is not None else (self.browser.selected if self.browser is not None else [])
        if not keys:
            raise NeedsInput("Select files or folders in the dataset browser to download.")
        target = Path(to) if to is not None else self._local_folder()
        return self._start(
            "download", lambda **o: store.start_download(keys, target, cluster=self.cluster, **o)
        )

    def cancel(self) -> None:
        if self.transfer is not None and not self.transfer.done:
            self.transfer.cancel()
            self.ask.answer("skip")  # a question left open would block the cancel
            self.status.show("Cancelling...", "warning")

    def _need_store(self) -> DatasetStore:
        if self.store is None:
            raise NeedsInput("Not connected: enter credentials and press Connect first.")
        if self.transfer is not None and not self.transfer.done:
            raise NeedsInput("A transfer is running: wait for it or press Cancel.")
        return self.store

    def _local_sources(self) -> list[str | os.PathLike[str]]:
        if self.local is not None:
            if not self.local.selected:
                raise NeedsInput("Select files or folders in the local pane to upload.")
            return [Path(self.local.root, key) for key in self.local.selected]
        chosen = self.local_selection
        if chosen is None:
            raise NeedsInput("Choose a local file or folder to upload (the picker above), then Upload.")
        return [chosen]

    def _local_folder(self) -> Path:
        if self.local is not None:
            return self.local.folder
        chosen = self.local_selection
        if chosen is None:
            return Path(self.chooser.selected_path or ".")
        return chosen if chosen.is_dir() else chosen.parent

    def _start(self, direction: str, start: Callable[..., Transfer]) -> Transfer:
        self.refresh_cluster()
        mode = self.overwrite.value
        self.ask.reset()
        overwrite = self.ask if mode == "ask" else mode
        self.set_trait("report", None)
        self.set_trait("busy", True)
        self.total_bar.value = 0.0
        self.total_bar.bar_style = ""
        self.status.show(f"Starting {direction}...", "info")
        try:
            transfer: Transfer = start(overwrite=overwrite, progress=self._on_progress)
        except Exception:
            self.set_trait("busy", False)
            raise
        self.transfer = transfer
        transfer.add_done_callback(self._on_done)
        return transfer

    def _plan_sync(self) -> SyncPlan:
        """The plan between the chosen local folder and the browser's folder (nothing changes)."""
        store = self._need_store()
        remote = self.browser.path if self.browser is not None else ""
        chosen = self.local_selection
        local = chosen if chosen is not None and chosen.is_dir() else self._local_folder()
        if self.sync.direction.value == "up":
            return store.plan_sync_up(local, remote, delete=self.sync.delete_extras.value)
        return store.plan_sync_down(remote, local, delete=self.sync.delete_extras.value)

    def _start_sync(self, plan: SyncPlan) -> Transfer:
        store = self._need_store()
        return self._start(
            "sync", lambda **o: store.start_sync(plan, progress=o["progress"], cluster=self.cluster)
        )

    # -- progress (called from the engine's progress thread, at most ~10 times a second) ------

    def _on_progress(self, event: TransferProgress) -> None:
        """Show an engine event; the browser gets at most 2.5 updates a second, of 2-4 messages each."""
        self._log.extend(str(result) for result in event.finished)
        now = time.monotonic()
        if not event.done and now - self._last_render < UI_INTERVAL:
            return
        self._last_render = now
        self.total_bar.value = event.fraction
        self.total_label.value = progress_line(event)
        self.files_view.value = active_files_html(event)
        if len(self._log) != self._logged:
            self._log = self._log[-LOG_LINES:]
            self._logged = len(self._log)
            self.log_view.value = log_html(self._log)

    def _on_done(self, transfer: Transfer) -> None:
        report = transfer.report
        self.set_trait("report", report)
        self.set_trait("busy", False)
        self.files_view.value = ""
        if transfer.error is not None:
            self.status.show(friendly(transfer.error), "error")
            self.total_bar.bar_style = "danger"
        elif report is not None:
            level: Level = "ok" if report.ok else "warning"
            self.status.show(report.summary(), level)
            self.total_bar.bar_style = "success" if report.ok else "warning"
        if report is None:
            return
        if self.browser is not None and (report.direction in ("upload", "move", "copy") or report.deleted):
            self.browser.refresh()
        if self.local is not None and report.direction == "download":
            self.local.refresh()
