"""Where a Provena deployment lives: every URL derived from domain and realm, each overridable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ..errors import SettingsError

DOMAIN, REALM = "PROVENA_DOMAIN", "PROVENA_REALM"
DATA_API_URL, REALM_URL = "PROVENA_DATA_API_URL", "PROVENA_REALM_URL"
CLIENT_ID, OFFLINE_CLIENT_ID = "PROVENA_CLIENT_ID", "PROVENA_OFFLINE_CLIENT_ID"
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?")
_WORD = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ProvenaConfig:
    """URLs and client ids of one Provena deployment.

    ``ProvenaConfig.for_domain("mds.gbrrestoration.org", realm="rrap")`` derives the data store API
    (``https://data-api.<domain>``) and the Keycloak realm (``https://auth.<domain>/auth/realms/<realm>``).
    """

    data_api_url: str
    realm_url: str
    client_id: str = "client-tools"
    offline_client_id: str = "automated-access"
    timeout: float = 40.0  # the API gateway gives up at 30 s; allow for that answer to arrive

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_api_url", self.data_api_url.rstrip("/"))
        object.__setattr__(self, "realm_url", self.realm_url.rstrip("/"))

    @classmethod
    def for_domain(
        cls,
        domain: str,
        realm: str = "rrap",
        *,
        data_api_url: str | None = None,
        realm_url: str | None = None,
        **options: str | float,
    ) -> ProvenaConfig:
        domain = domain.strip().removeprefix("https://").strip("/")
        return cls(
            data_api_url=data_api_url or f"https://data-api.{domain}",
            realm_url=realm_url or f"https://auth.{domain}/auth/realms/{realm}",
            **options,  # type: ignore[arg-type]
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ProvenaConfig | None:
        """The deployment the site names, or ``None`` when it names none.

        ``PROVENA_DOMAIN`` (and ``PROVENA_REALM``, default ``rrap``) derive the URLs;
        ``PROVENA_DATA_API_URL`` and ``PROVENA_REALM_URL`` override them (both are needed without a
        domain); ``PROVENA_CLIENT_ID`` and ``PROVENA_OFFLINE_CLIENT_ID`` are optional. Empty values
        count as unset. A value that cannot work raises :class:`SettingsError` naming its variable.
        """
        env = os.environ if environ is None else environ
        domain = checked_domain(env)
        api_url = checked_url(env, DATA_API_URL, "https://data-api.example.org")
        realm_url = checked_url(env, REALM_URL, "https://auth.example.org/auth/realms/rrap")
        realm = checked_word(env, REALM, "rrap")
        client_id = checked_word(env, CLIENT_ID, "client-tools")
        offline_client_id = checked_word(env, OFFLINE_CLIENT_ID, "automated-access")
        if domain:
            found = cls.for_domain(
                domain, realm or "rrap", data_api_url=api_url or None, realm_url=realm_url or None
            )
        elif api_url and realm_url:
            found = cls(api_url, realm_url)
        elif api_url or realm_url:
            given, missing = (DATA_API_URL, REALM_URL) if api_url else (REALM_URL, DATA_API_URL)
            raise SettingsError(
                f"{given} is set without {missing}: set both, or {DOMAIN} to derive them.", given
            )
        else:
            for name in (REALM, CLIENT_ID, OFFLINE_CLIENT_ID):
                if setting(env, name):
                    raise SettingsError(
                        f"{name} is set but no Provena deployment is: set {DOMAIN} "
                        f"(or {DATA_API_URL} and {REALM_URL}).",
                        name,
                    )
            return None
        return replace(
            found,
            client_id=client_id or found.client_id,
            offline_client_id=offline_client_id or found.offline_client_id,
        )

    @property
    def device_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/auth/device"

    @property
    def token_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/token"


def setting(env: Mapping[str, str], name: str) -> str:
    """The variable's value without surrounding spaces; ``""`` when unset or empty."""
    return env.get(name, "").strip()


def checked_url(env: Mapping[str, str], name: str, example: str) -> str:
    """The variable's URL (``""`` when unset), which must start with https:// or http:// and name a host."""
    value = setting(env, name)
    parts = urlsplit(value)
    if value and (parts.scheme not in ("https", "http") or not parts.netloc or " " in value):
        raise SettingsError(
            f"{name} must be a full URL starting with https:// (or http://), like {example}: "
            f"got {value[:80]!r}.",
            name,
        )
    return value


def checked_word(env: Mapping[str, str], name: str, example: str) -> str:
    """The variable's value (``""`` when unset), which must be one word of letters, digits, ``._-``."""
    value = setting(env, name)
    if value and not _WORD.fullmatch(value):
        raise SettingsError(f"{name} must be one word like {example}: got {value[:80]!r}.", name)
    return value


def checked_domain(env: Mapping[str, str]) -> str:
    """``PROVENA_DOMAIN``'s host name (it may start with https://), or ``""`` when unset."""
    value = setting(env, DOMAIN)
    host = value.removeprefix("https://").rstrip("/")
    if value and not _HOST.fullmatch(host):
        raise SettingsError(
            f"{DOMAIN} must be a domain name like mds.gbrrestoration.org: got {value[:80]!r}.", DOMAIN
        )
    return host
