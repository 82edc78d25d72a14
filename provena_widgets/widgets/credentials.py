"""CredentialPanel: paste or type the three keys and the dataset path, connect, watch the expiry."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import ipywidgets as widgets
import traitlets

from ..credentials import Credentials
from ..errors import CredentialsFormatError, LocationError, SettingsError
from ..location import DatasetLocation
from ..provena.client import ProvenaClient
from ..provena.config import ProvenaConfig
from ..provena.site import SiteSettings
from ..store import DEFAULT_REGION, DatasetStore
from ..units import format_duration
from .common import Background, StatusLine, button
from .provena_login import ProvenaLogin

EXPIRY_WARNING = timedelta(minutes=15)
_S3_URI = re.compile(r"s3://[^\s\"']+", re.IGNORECASE)
_KEPT = "kept in the kernel (type to replace)"


class CredentialPanel(widgets.VBox):
    """The credential box of the Data Store page, for a notebook.

    After connecting, the secret and the token are cleared from the widget models (they stay in
    the kernel only), so a saved notebook never holds them. ``store`` is set by each successful
    connection (observe it to act on one); ``connected`` says whether there is one.

    What is not given comes from the site's settings (``site``, :class:`SiteSettings`: ``PROVENA_*``
    variables or a Jupyter config file): its Provena login, its S3 endpoint and region. A bad
    setting shows as one line in ``status``.
    """

    store = traitlets.Instance(DatasetStore, allow_none=True, help="the connected dataset store")
    connected = traitlets.Bool(False, read_only=True, help="a store is connected")

    def __init__(
        self,
        credentials: Credentials | None = None,
        location: DatasetLocation | str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        provena: ProvenaClient | ProvenaConfig | None = None,
        handle: str = "",
        **kwargs: Any,
    ) -> None:
        self._credentials = credentials
        self.status = StatusLine()
        try:
            self.site = SiteSettings.load()
        except SettingsError as exc:
            self.site = SiteSettings()
            self.status.show(str(exc), "error")
        provena = self.site.provena if provena is None else provena
        self.paste = widgets.Textarea(
            placeholder="Paste the credentials block from the Data Store page here "
            "(export AWS_ACCESS_KEY_ID=... or the three values); the fields fill themselves.",
            layout=widgets.Layout(width="100%", height="64px"),
        )
        self.paste.add_class("provena-paste")
        self.access_key = widgets.Text(description="Access key", placeholder="ASIA...")
        self.secret_key = widgets.Password(description="Secret key")
        self.session_token = widgets.Password(description="Session token")
        self.dataset_path = widgets.Text(
            description="Dataset", placeholder="/rrap-storage-bucket/datasets/10378-1-1234567/"
        )
        for field, css in (
            (self.access_key, "provena-access-key"),
            (self.secret_key, "provena-secret-key"),
            (self.session_token, "provena-session-token"),
            (self.dataset_path, "provena-dataset-path"),
        ):
            field.layout = widgets.Layout(width="100%")
            field.style = {"description_width": "110px"}
            field.add_class(css)
        self.region = widgets.Text(
            value=region or self.site.s3_region or DEFAULT_REGION, description="Region"
        )
        self.endpoint = widgets.Text(
            value=endpoint_url or self.site.s3_endpoint_url or "",
            description="Endpoint",
            placeholder="default: boto3's configuration (AWS_ENDPOINT_URL...)",
            layout=widgets.Layout(width="100%"),
        )
        self.endpoint.add_class("provena-endpoint")
        advanced = widgets.Accordion([widgets.VBox([self.region, self.endpoint])])
        advanced.set_title(0, "Advanced")
        advanced.selected_index = None
        self.connect_button = button("Connect", "provena-connect", icon="plug", style="primary")
        self.expiry = StatusLine()
        self.expiry.add_class("provena-expiry")
        self._work = Background(self.status, "connect")
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()

        self.paste.observe(self._on_paste, names="value")
        self.connect_button.on_click(lambda _: self.connect_in_background())
        if credentials is not None:
            self.access_key.value = credentials.access_key_id
            self.secret_key.placeholder = self.session_token.placeholder = _KEPT
        if location is not None:
            self.dataset_path.value = location.s3_uri if isinstance(location, DatasetLocation) else location
        keys = widgets.VBox(
            [
                self.paste,
                self.access_key,
                self.secret_key,
                self.session_token,
                self.dataset_path,
                widgets.HBox([self.connect_button, self.status]),
            ]
        )
        self.provena: ProvenaLogin | None = None
        sections: list[widgets.Widget] = [keys]
        if provena is not None:
            self.provena = ProvenaLogin(
                provena, self._provena_store, self._adopt, handle, token_cache=self.site.token_cache
            )
            self.modes = widgets.Tab([self.provena, keys])
            self.modes.set_title(0, "Provena login")
            self.modes.set_title(1, "Paste keys")
            sections = [self.modes]
        super().__init__([*sections, advanced, self.expiry], **kwargs)
        self.add_class("provena-credential-panel")

    # -- reading the fields ------------------------------------------------------------------

    def _on_paste(self, change: dict[str, Any]) -> None:
        text = change["new"]
        if not text.strip():
            return
        self.paste.value = ""  # the pasted secret leaves the widget model at once
        match = _S3_URI.search(text)
        if match:
            self.dataset_path.value = match.group(0)
        try:
            creds = Credentials.parse(text)
        except CredentialsFormatError as exc:
            if match and not re.search(r"AWS_|aws_|[A-Z0-9]{16}", text.replace(match.group(0), "")):
                self.status.show("Dataset path filled in; now paste the credentials.", "info")
            else:
                self.status.show(str(exc), "error")
            return
        self._credentials = creds
        self.access_key.value = creds.access_key_id
        self.secret_key.value = self.session_token.value = ""
        self.secret_key.placeholder = self.session_token.placeholder = _KEPT
        left = f", valid until {creds.expiry:%H:%M} UTC" if creds.expiry else ""
        self.status.show(f"Credentials read{left}: press Connect.", "ok")

    @property
    def credentials(self) -> Credentials | None:
        """The credentials from the fields (typed values override pasted ones)."""
        return self._read_credentials(strict=False)

    def _read_credentials(self, strict: bool) -> Credentials | None:
        base = self._credentials
        access = self.access_key.value.strip()
        secret = self.secret_key.value.strip() or (base.secret_access_key if base else "")
        token = self.session_token.value.strip() or (base.session_token if base else "") or ""
        if not (access or secret or token):
            if strict:
                raise CredentialsFormatError(
                    "No credentials yet: paste the block from the Data Store page, or type the three keys."
                )
            return None
        try:
            creds = Credentials.from_fields(access, secret, token, base.expiry if base else None)
        except CredentialsFormatError:
            if strict:
                raise
            return None
        return creds

    @property
    def location(self) -> DatasetLocation | None:
        try:
            return DatasetLocation.parse(self.dataset_path.value)
        except LocationError:
            return None

    # -- connecting --------------------------------------------------------------------------

    def connect(self) -> DatasetStore:
        """Check the credentials against the dataset folder; on success, clear the secrets."""
        creds = self._read_credentials(strict=True)
        assert creds is not None
        if not self.dataset_path.value.strip():
            raise LocationError(
                "The dataset path is empty: copy it from the Data Store page, like "
                "/rrap-storage-bucket/datasets/10378-1-1234567/."
            )
        location = DatasetLocation.parse(self.dataset_path.value)
        self.status.show(f"Connecting to {location.s3_uri}...", "info")
        store = DatasetStore(
            creds,
            location,
            endpoint_url=self.endpoint.value.strip() or None,
            region=self.region.value.strip() or DEFAULT_REGION,
        )
        self.status.show(str(store.check()), "ok")
        self._adopt(store)
        return store

    def _provena_store(self, client: ProvenaClient, handle: str, write: bool) -> DatasetStore:
        store = DatasetStore.from_provena(
            client,
            handle,
            write=write,
            endpoint_url=self.endpoint.value.strip() or None,
            region=self.region.value.strip() or DEFAULT_REGION,
        )
        store.check()
        return store

    def _adopt(self, store: DatasetStore) -> None:
        """Use a connected store: secrets leave the widget models, the expiry starts counting."""
        self._credentials = store.credentials
        self.secret_key.value = self.session_token.value = ""
        self.secret_key.placeholder = self.session_token.placeholder = _KEPT
        self.dataset_path.value = store.location.s3_uri
        self.store = store

    @traitlets.observe("store")
    def _on_store(self, change: dict[str, Any]) -> None:
        self.set_trait("connected", change["new"] is not None)
        if change["new"] is not None:
            self._start_ticker()

    def connect_in_background(self) -> None:
        """What the Connect button does: :meth:`connect` off the kernel's thread, errors shown."""
        self._work.run(self.connect)

    def on_connect(self, callback: Callable[[DatasetStore], None]) -> None:
        """Call ``callback(store)`` after each successful connection (observes ``store``)."""

        def connected(change: dict[str, Any]) -> None:
            if change["new"] is not None:
                callback(change["new"])

        self.observe(connected, names="store")

    def wait(self, timeout: float | None = 60) -> None:
        """Wait for a Connect (or Provena action) started by a button (for scripts and tests)."""
        self._work.wait(timeout)
        if self.provena is not None:
            self.provena.wait(timeout)

    # -- expiry ------------------------------------------------------------------------------

    def update_expiry(self, now: datetime | None = None) -> None:
        """Show the time left, warning in the last 15 minutes (unless they renew themselves)."""
        if self.store is not None and self.store.renews:
            current = self.store.credentials
            left = current.remaining(now or datetime.now(timezone.utc)) if current.expiry else None
            valid = f"valid for {format_duration(left.total_seconds())}, " if left is not None else ""
            self.expiry.show(f"Credentials {valid}renewed automatically before they expire.", "info")
            return
        creds = self._credentials
        if creds is None or creds.expiry is None:
            self.expiry.show("No expiry given with these credentials.", "info")
            return
        left = creds.remaining(now or datetime.now(timezone.utc))
        assert left is not None
        if left <= timedelta(0):
            self.expiry.show(
                "The credentials have expired: generate new ones on the Data Store page, paste them and "
                "press Connect.",
                "error",
            )
        elif left <= EXPIRY_WARNING:
            self.expiry.show(
                f"Credentials expire in {format_duration(left.total_seconds())}: generate new ones soon.",
                "warning",
            )
        else:
            self.expiry.show(f"Credentials valid for {format_duration(left.total_seconds())}.", "info")

    def _start_ticker(self) -> None:
        self.update_expiry()
        if self._ticker is not None:
            return
        self._ticker = threading.Thread(target=self._tick, name="provena-expiry", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop_ticker.wait(1.0):
            self.update_expiry()

    def close(self) -> None:
        self._stop_ticker.set()
        super().close()
