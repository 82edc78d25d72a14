"""ProvenaClient: log in, look up a dataset, and generate its S3 credentials."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests

from .. import redact
from ..credentials import Credentials, parse_expiry
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
from ..location import DatasetLocation
from .config import ProvenaConfig
from .login import DeviceLogin
from .tokens import TokenCache, TokenSet

log = logging.getLogger(__name__)

ReleaseStatus = Literal["NOT_RELEASED", "PENDING", "RELEASED"]
READ_ROLES = ("dataset-data-read", "dataset-data-write", "admin")
WRITE_ROLES = ("dataset-data-write", "admin")
_BUSY = (500, 502, 503, 504)
_RETRIES = 3


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry says of a dataset, and what the caller may do with its files."""

    handle: str
    name: str
    location: DatasetLocation
    roles: tuple[str, ...]
    locked: bool
    release_status: str

    @property
    def can_read(self) -> bool:
        return any(role in self.roles for role in READ_ROLES)

    @property
    def write_refusal(self) -> str | None:
        """Why write credentials would be refused, or ``None`` if they would not."""
        if not any(role in self.roles for role in WRITE_ROLES):
            return "You need the dataset-data-write role on this dataset: ask its owner (admin) to grant it."
        if self.locked:
            return "The dataset is locked: unlock it in the Data Store before changing its files."
        if self.release_status in ("PENDING", "RELEASED"):
            return "The dataset is pending review or released: its files can no longer be changed."
        return None

    @property
    def can_write(self) -> bool:
        return self.write_refusal is None


class ProvenaClient:
    """Talks to one Provena deployment as the logged-in user (requests-based, thread-safe).

    Tokens live in memory; pass ``token_cache=True`` (or a path) to keep the refresh token in a
    0600 file under the user's config folder, so a kernel restart needs no new login.
    """

    def __init__(self, config: ProvenaConfig, *, token_cache: bool | str | Path = False) -> None:
        self.config = config
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "provena-widgets"
        self._tokens: TokenSet | None = None
        self._lock = threading.Lock()
        self._cache = (
            None if token_cache is False else TokenCache(None if token_cache is True else Path(token_cache))
        )
        if self._cache is not None:
            self._resume_from_cache()

    def __repr__(self) -> str:
        who = self.username or "not logged in"
        return f"ProvenaClient({self.config.data_api_url!r}, {who})"

    # -- login -------------------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        return self._tokens is not None

    @property
    def username(self) -> str | None:
        tokens = self._tokens
        if tokens is None:
            return None
        claims = tokens.claims
        return str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")

    @property
    def realm_roles(self) -> tuple[str, ...]:
        tokens = self._tokens
        roles = tokens.claims.get("realm_access", {}).get("roles", []) if tokens else []
        return tuple(str(role) for role in roles)

    def start_device_login(self) -> DeviceLogin:
        """Begin the device login; returns at once with the link and code to show the user."""
        response = self._send(
            "post",
            self.config.device_url,
            data={"client_id": self.config.client_id, "scope": "openid"},
            what="start the login",
        )
        if response.status_code != 200:
            raise LoginFailed(f"Provena's login service refused to start a login ({response.status_code}).")
        return DeviceLogin(self._http, self.config, response.json(), self._store_tokens)

    def login_offline(self, offline_token: str) -> None:
        """Log in headless with an offline token (client ``automated-access``)."""
        redact.register(offline_token.strip())
        self._refresh_with(offline_token.strip(), self.config.offline_client_id)

    def logout(self) -> None:
        with self._lock:
            self._tokens = None
        if self._cache is not None:
            self._cache.forget(self.config.realm_url)

    def access_token(self) -> str:
        """A valid access token, refreshed first if it is about to expire."""
        with self._lock:
            tokens = self._tokens
        if tokens is None:
            raise NotLoggedIn(
                "You are not logged in to Provena: press Log in (or call start_device_login())."
            )
        if tokens.needs_refresh():
            self._refresh_with(tokens.refresh_token, tokens.client_id)
            assert self._tokens is not None
            tokens = self._tokens
        return tokens.access_token

    def _refresh_with(self, refresh_token: str, client_id: str) -> None:
        response = self._send(
            "post",
            self.config.token_url,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
            what="renew the login",
        )
        if response.status_code != 200:
            with self._lock:
                self._tokens = None
            raise NotLoggedIn("Your Provena login has expired or was revoked: log in again.")
        self._store_tokens(TokenSet.from_response(response.json(), client_id, refresh_token))

    def _store_tokens(self, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens = tokens
        if self._cache is not None:
            self._cache.save(self.config.realm_url, tokens)

    def _resume_from_cache(self) -> None:
        assert self._cache is not None
        saved = self._cache.load(self.config.realm_url)
        if saved is None:
            return
        client_id, refresh_token = saved
        try:
            self._refresh_with(refresh_token, client_id or self.config.client_id)
        except ProvenaError as exc:
            log.info("The cached Provena login could not be resumed: %s", exc)

    # -- the data store API ------------------------------------------------------------------

    def fetch_dataset(self, handle: str) -> DatasetInfo:
        """The dataset's name, S3 location (from ``item.s3``), the caller's roles, lock and release state."""
        handle = _clean_handle(handle)
        body = self._api("get", "/registry/items/fetch-dataset", params={"handle_id": handle}, handle=handle)
        status = body.get("status") or {}
        item = body.get("item")
        if not status.get("success", True) or not isinstance(item, dict):
            raise UnknownDataset(
                f"No dataset has the handle {handle}: check it on the Data Store page "
                f"({status.get('details') or 'not found'})."
            )
        s3 = item.get("s3") or {}
        try:
            location = (
                DatasetLocation.parse(s3["s3_uri"])
                if s3.get("s3_uri")
                else DatasetLocation(str(s3["bucket_name"]), str(s3["path"]))
            )
        except (KeyError, ValueError) as exc:
            raise UnknownDataset(f"The record of {handle} has no usable storage location ({exc}).") from None
        return DatasetInfo(
            handle=handle,
            name=str(item.get("display_name") or handle),
            location=location,
            roles=tuple(str(role) for role in body.get("roles") or ()),
            locked=bool(body.get("locked")),
            release_status=str(item.get("release_status") or "NOT_RELEASED"),
        )

    def generate_credentials(self, handle: str, write: bool = False) -> Credentials:
        """Temporary S3 credentials for the dataset's folder (read, or read and write)."""
        handle = _clean_handle(handle)
        kind = "write" if write else "read"
        body = self._api(
            "post",
            f"/registry/credentials/generate-{kind}-access-credentials",
            json={"dataset_id": handle, "console_session_required": False},
            handle=handle,
            write=write,
        )
        raw = body.get("credentials") or {}
        try:
            return Credentials(
                access_key_id=str(raw["aws_access_key_id"]),
                secret_access_key=str(raw["aws_secret_access_key"]),
                session_token=str(raw["aws_session_token"]),
                expiry=parse_expiry(str(raw["expiry"])) if raw.get("expiry") else None,
            )
        except KeyError as exc:
            raise ServiceBusy(f"Provena answered without credentials ({exc} missing): try again.") from None

    def _api(
        self, method: str, path: str, *, handle: str, write: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        response = self._send(
            method, self.config.data_api_url + path, headers=headers, what="reach Provena", **kwargs
        )
        if response.status_code == 200:
            body = response.json()
            return body if isinstance(body, dict) else {}
        raise _error_for(response, handle, write)

    def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """One request, retried on gateway time-outs and server errors."""
        for attempt in range(1, _RETRIES + 1):
            try:
                response = self._http.request(method, url, timeout=self.config.timeout, **kwargs)
            except requests.RequestException as exc:
                if attempt == _RETRIES:
                    raise ServiceBusy(
                        f"Could not {what} at {url.split('/')[2]}: check the network connection "
                        "and try again."
                    ) from exc
            else:
                if response.status_code not in _BUSY or attempt == _RETRIES:
                    return response
            time.sleep(0.5 * attempt)  # backoff before retrying a busy service
        raise AssertionError("unreachable")


def _clean_handle(handle: str) -> str:
    value = handle.strip().strip("\"'") if isinstance(handle, str) else ""
    if "/" not in value or " " in value:
        raise UnknownDataset(f"{value[:60]!r} is not a dataset handle: expected a form like 10378.1/1234567.")
    return value


def _error_for(response: requests.Response, handle: str, write: bool) -> ProvenaError:
    """Map the contract's error answers to typed errors with a plain sentence each."""
    try:
        detail: Any = response.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = response.text[:200]
    text = detail if isinstance(detail, str) else "; ".join(str(d.get("msg", d)) for d in detail or [])
    text = " ".join(text.split())  # details may quote multi-line errors (e.g. pydantic's)
    status = response.status_code
    lowered = text.lower()
    if status in _BUSY:
        return ServiceBusy(f"Provena is busy or timed out ({status}): try again in a minute.")
    if status == 401 and "locked" in lowered:
        return DatasetLocked(f"{handle} is locked: unlock it in the Data Store before changing its files.")
    if status == 403 and ("released" in lowered or "pending" in lowered):
        return DatasetReleased(f"{handle} is pending review or released: its files can no longer be changed.")
    if status == 401 and "sufficient permissions" in lowered:
        role = "dataset-data-write" if write else "dataset-data-read"
        return MissingRole(
            f"You do not have permission to {'write to' if write else 'read from'} {handle}: "
            "ask the dataset's "
            f"owner for the {role} role.",
            role,
        )
    if status == 401 and text in ("Not authenticated", "Could not validate credentials"):
        return NotLoggedIn("Provena did not accept your login (it may have expired): log in again.")
    if status in (401, 403):
        named = re.search(r"entity-registry-[a-z]+", text)
        role = named.group(0) if named else ("entity-registry-write" if write else "entity-registry-read")
        return MissingRole(
            f"Provena refused ({text or status}): you may need the {role} role; request it in Provena.", role
        )
    if status in (400, 404, 422):
        return UnknownDataset(f"Provena does not know the dataset {handle} ({text or status}).")
    return ProvenaError(f"Provena answered {status}: {text or 'no details'}.")
