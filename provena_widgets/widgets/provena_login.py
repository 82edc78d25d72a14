"""ProvenaLogin: log in to Provena and generate a dataset's credentials, without copy-paste."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..provena.client import DatasetInfo, ProvenaClient
from ..provena.config import ProvenaConfig
from ..provena.login import DeviceLogin
from ..store import DatasetStore
from .common import Background, NeedsInput, StatusLine, button


class ProvenaLogin(widgets.VBox):
    """Handle box, Log in (a clickable link and code), then Generate read / write credentials.

    ``make_store(client, handle, write)`` builds the store (the panel adds endpoint and region);
    ``on_store(store)`` receives it. Write is disabled, with the reason, when roles, lock or release
    status forbid it. Given a config and a ``token_cache`` (as :class:`ProvenaClient` takes it), a
    login kept in the cache is resumed in the background.
    """

    def __init__(
        self,
        provena: ProvenaClient | ProvenaConfig,
        make_store: Callable[[ProvenaClient, str, bool], DatasetStore],
        on_store: Callable[[DatasetStore], None],
        handle: str = "",
        token_cache: bool | Path = False,
        **kwargs: Any,
    ) -> None:
        self.client = provena if isinstance(provena, ProvenaClient) else ProvenaClient(provena)
        self._make_store = make_store
        self._on_store = on_store
        self.login: DeviceLogin | None = None
        self.dataset: DatasetInfo | None = None
        self.status = StatusLine()
        self._work = Background(self.status, "provena")
        self.handle = widgets.Text(
            value=handle, description="Handle", placeholder="10378.1/1234567", continuous_update=False
        )
        self.handle.add_class("provena-handle")
        self.login_button = button("Log in", "provena-login", icon="sign-in", style="primary")
        self.login_status = widgets.HTML()
        self.login_status.add_class("provena-login-status")
        self.dataset_name = widgets.HTML()
        self.dataset_name.add_class("provena-dataset-name")
        self.read_button = button("Generate read credentials", "provena-generate-read", icon="key")
        self.write_button = button(
            "Generate write credentials", "provena-generate-write", icon="key", style="warning"
        )
        self.write_reason = widgets.HTML()
        self.write_reason.add_class("provena-write-reason")
        self.login_button.on_click(lambda _: self._work.run(self.start_login))
        self.handle.observe(lambda _: self._work.run(self.look_up), names="value")
        self.read_button.on_click(lambda _: self._work.run(lambda: self.generate(write=False)))
        self.write_button.on_click(lambda _: self._work.run(lambda: self.generate(write=True)))
        super().__init__(
            [
                widgets.HBox([self.login_button, self.login_status]),
                self.handle,
                self.dataset_name,
                widgets.HBox([self.read_button, self.write_button]),
                self.write_reason,
                self.status,
            ],
            **kwargs,
        )
        self.add_class("provena-login-panel")
        self._show_login_state()
        if isinstance(provena, ProvenaConfig) and token_cache is not False:
            self._work.run(lambda: self._resume(ProvenaClient(provena, token_cache=token_cache)))

    def _resume(self, client: ProvenaClient) -> None:
        """Use a client made with the token cache (made off the kernel's thread: it may renew a login)."""
        self.client = client
        if client.logged_in:
            self.status.show(f"Logged in as {client.username} (login kept from before).", "ok")
            self.look_up()
        self._show_login_state()

    def wait(self, timeout: float | None = 60) -> None:
        """Wait for actions started from the UI (not for the user's approval: see ``login.wait``)."""
        self._work.wait(timeout)

    def start_login(self) -> DeviceLogin:
        """Start the device login and show its link; completes when approved in the browser."""
        login = self.client.start_device_login()
        self.login = login
        link = html.escape(login.verification_uri_complete)
        self.login_status.value = (
            f'Open <a href="{link}" target="_blank" rel="noopener">{link}</a> and approve the code '
            f"<b><code>{html.escape(login.user_code)}</code></b>."
        )
        self.status.show("Waiting for you to approve the login in the browser...", "info")
        login.add_done_callback(self._login_ended)
        return login

    def _login_ended(self, login: DeviceLogin) -> None:
        if login.error is not None:
            self.status.show(str(login.error), "error")
        else:
            self.status.show(f"Logged in as {self.client.username}.", "ok")
            if self.handle.value.strip():
                self._work.run(self.look_up)
        self._show_login_state()

    def _show_login_state(self) -> None:
        logged_in = self.client.logged_in
        if logged_in:
            self.login_status.value = f"Logged in as <b>{html.escape(self.client.username or '')}</b>"
        self.login_button.description = "Log in again" if logged_in else "Log in"
        self.read_button.disabled = not logged_in
        self.write_button.disabled = not logged_in or (
            self.dataset is not None and not self.dataset.can_write
        )

    def look_up(self) -> DatasetInfo | None:
        """Fetch the dataset record for the handle: its name, and whether write is allowed."""
        handle = self.handle.value.strip()
        self.dataset = None
        self.dataset_name.value = self.write_reason.value = ""
        if not handle or not self.client.logged_in:
            self._show_login_state()
            return None
        info = self.client.fetch_dataset(handle)
        if handle != self.handle.value.strip():
            return None  # the user typed on meanwhile
        self.dataset = info
        self.dataset_name.value = f"<b>{html.escape(info.name)}</b> ({html.escape(info.location.s3_uri)})"
        reason = info.write_refusal
        self.write_reason.value = f"<i>Write: {html.escape(reason)}</i>" if reason else ""
        self._show_login_state()
        return info

    def generate(self, write: bool) -> DatasetStore:
        """Generate credentials that renew themselves, and open the dataset's folder."""
        handle = self.handle.value.strip()
        if not handle:
            raise NeedsInput("Type the dataset's handle first (like 10378.1/1234567).")
        self.status.show(f"Generating {'write' if write else 'read'} credentials for {handle}...", "info")
        store = self._make_store(self.client, handle, write)
        self.dataset = store.dataset
        self.status.show(
            f"{'Write' if write else 'Read'} credentials for {handle}: they renew themselves.", "ok"
        )
        self._on_store(store)
        return store
