"""Where a Provena deployment lives: every URL derived from domain and realm, each overridable."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def device_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/auth/device"

    @property
    def token_url(self) -> str:
        return f"{self.realm_url}/protocol/openid-connect/token"
