"""The OAuth device login: returns the link and code at once, polls on a background thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

import requests

from ..errors import LoginFailed, ProvenaError, ServiceBusy
from .config import ProvenaConfig
from .tokens import TokenSet

log = logging.getLogger(__name__)

Status = Literal["pending", "approved", "denied", "expired", "cancelled", "failed"]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceLogin:
    """A login waiting for the user to approve it in a browser.

    Show ``verification_uri_complete`` (or ``verification_uri`` and ``user_code``) to the user;
    ``wait()`` blocks until it ends, or ``add_done_callback`` observes it. The kernel is never
    blocked: polling runs on its own thread, so this completes in scripts, nbclient and Voila too.
    """

    def __init__(
        self,
        http: requests.Session,
        config: ProvenaConfig,
        answer: dict[str, Any],
        on_tokens: Callable[[TokenSet], None],
    ) -> None:
        self._http = http
        self._config = config
        self._device_code = str(answer["device_code"])
        self._on_tokens = on_tokens
        self.user_code = str(answer.get("user_code", ""))
        self.verification_uri = str(answer.get("verification_uri", ""))
        self.verification_uri_complete = str(answer.get("verification_uri_complete") or self.verification_uri)
        self.expires_in = float(answer.get("expires_in", 600))
        self.interval = max(float(answer.get("interval", 5)), 0.1)
        self.status: Status = "pending"
        self.error: ProvenaError | None = None
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[DeviceLogin], None]] = []
        self._thread = threading.Thread(target=self._poll, name="provena-device-login", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        link = self.verification_uri_complete
        return f"DeviceLogin(status={self.status!r}, verification_uri_complete={link!r})"

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until approved; raise :class:`LoginFailed` if it was denied, expired or cancelled."""
        if not self._finished.wait(timeout):
            raise TimeoutError("The login is still waiting for approval in the browser.")
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        self._stop.set()

    def add_done_callback(self, callback: Callable[[DeviceLogin], None]) -> None:
        with self._lock:
            if not self._finished.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _poll(self) -> None:
        deadline = self.expires_in
        waited = 0.0
        try:
            while True:
                if self._stop.wait(self.interval):
                    self._end(
                        "cancelled", LoginFailed("The login was cancelled: press Log in to start again.")
                    )
                    return
                waited += self.interval
                if self._attempt() or waited >= deadline:
                    if self.status == "pending":
                        self._end(
                            "expired",
                            LoginFailed("The login code expired before it was approved: press Log in again."),
                        )
                    return
        except Exception as exc:  # never let the thread die silently
            error = (
                exc
                if isinstance(exc, ProvenaError)
                else ServiceBusy(f"The login could not be completed: {exc}")
            )
            self._end("failed", error)

    def _attempt(self) -> bool:
        """One poll of the token endpoint; True when the login has ended."""
        try:
            response = self._http.post(
                self._config.token_url,
                data={
                    "grant_type": DEVICE_GRANT,
                    "device_code": self._device_code,
                    "client_id": self._config.client_id,
                },
                timeout=self._config.timeout,
            )
        except requests.RequestException as exc:
            log.debug("device login poll failed, will retry: %s", exc)
            return False
        if response.status_code == 200:
            tokens = TokenSet.from_response(response.json(), self._config.client_id)
            self._on_tokens(tokens)
            self._end("approved", None)
            return True
        error = _json(response).get("error", "")
        if error == "authorization_pending":
            return False
        if error == "slow_down":
            self.interval += 5
            return False
        if error == "expired_token":
            self._end(
                "expired", LoginFailed("The login code expired before it was approved: press Log in again.")
            )
        elif error == "access_denied":
            self._end(
                "denied", LoginFailed("The login was denied in the browser: press Log in to try again.")
            )
        elif response.status_code >= 500:
            return False
        else:
            self._end(
                "failed",
                LoginFailed(f"The login failed ({error or response.status_code}): press Log in again."),
            )
        return True

    def _end(self, status: Status, error: ProvenaError | None) -> None:
        with self._lock:
            if self._finished.is_set():
                return
            self.status, self.error = status, error
            callbacks = list(self._callbacks)
        try:
            for callback in callbacks:
                callback(self)
        finally:
            self._finished.set()


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
