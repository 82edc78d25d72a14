"""OAuth tokens: reading JWT claims, knowing when to refresh, and the opt-in 0600 cache."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import redact
from ..private_files import user_folder, write_private_json

REFRESH_MARGIN = 60.0  # seconds: refresh an access token this long before it expires


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the API verifies; we only read the user's name)."""
    try:
        payload = token.split(".")[1]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass
class TokenSet:
    """An access token, the refresh token that renews it, and the client that issued them."""

    access_token: str
    refresh_token: str
    client_id: str
    access_expires_at: float  # time.time() seconds

    def __post_init__(self) -> None:
        redact.register(self.access_token, self.refresh_token)

    def __repr__(self) -> str:
        return f"TokenSet(client_id={self.client_id!r}, access_expires_at={self.access_expires_at:.0f})"

    @classmethod
    def from_response(cls, body: dict[str, Any], client_id: str, previous_refresh: str = "") -> TokenSet:
        access = str(body["access_token"])
        expires_in = float(body.get("expires_in") or 0) or (
            float(jwt_claims(access).get("exp", time.time())) - time.time()
        )
        return cls(
            access, str(body.get("refresh_token") or previous_refresh), client_id, time.time() + expires_in
        )

    @property
    def claims(self) -> dict[str, Any]:
        return jwt_claims(self.access_token)

    def needs_refresh(self, margin: float = REFRESH_MARGIN) -> bool:
        return time.time() >= self.access_expires_at - margin


def default_cache_path() -> Path:
    """``$XDG_CONFIG_HOME/provena-widgets/tokens.json`` (``~/.config/...``): never the working folder."""
    return user_folder("config") / "tokens.json"


class TokenCache:
    """An explicit, opt-in file holding refresh tokens by realm, readable by its owner only (0600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()

    def load(self, realm_url: str) -> tuple[str, str] | None:
        """``(client_id, refresh_token)`` saved for ``realm_url``, if any."""
        try:
            entry = json.loads(self.path.read_text()).get(realm_url)
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or not entry.get("refresh_token"):
            return None
        return str(entry.get("client_id", "")), str(entry["refresh_token"])

    def save(self, realm_url: str, tokens: TokenSet) -> None:
        self._write(realm_url, {"client_id": tokens.client_id, "refresh_token": tokens.refresh_token})

    def forget(self, realm_url: str) -> None:
        self._write(realm_url, None)

    def _write(self, realm_url: str, entry: dict[str, str] | None) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        if entry is None:
            data.pop(realm_url, None)
        else:
            data[realm_url] = entry
        write_private_json(self.path, data)
