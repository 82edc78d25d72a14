"""The S3 clients for one dataset folder: built once, with credentials renewed before they
expire, and S3's errors said as typed errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from ..credentials import Credentials
from ..errors import ProvenaWidgetsError
from ..location import DatasetLocation
from ..s3errors import translate
from ..s3objects import parse_s3_timestamp
from ..transfer.crt import CrtRequests
from ..transfer.crt import available as crt_available
from ..transfer.engine import TransferSettings

DEFAULT_REGION = "ap-southeast-2"


class Connection:
    """``client`` for requests; ``ranged_client`` for ranged GETs, which leaves checksum checks to
    the engine (a range's bytes cannot match a whole-object checksum, which some S3-compatible
    servers still send); ``crt`` for whole small files when the AWS CRT is available.

    ``renew``, if given, is called for fresh credentials shortly before the current ones expire.
    """

    def __init__(
        self,
        credentials: Credentials,
        location: DatasetLocation,
        endpoint_url: str | None,
        region: str,
        settings: TransferSettings,
        renew: Callable[[], Credentials] | None,
    ) -> None:
        self.location = location
        self.settings = settings
        self._credentials = credentials
        self._renew = renew
        session = boto3.session.Session(region_name=region, **credentials.boto_kwargs())
        parsers = session._session.get_component("response_parser_factory")
        parsers.set_parser_defaults(timestamp_parser=parse_s3_timestamp)
        if renew is not None:
            session._session._credentials = RefreshableCredentials.create_from_metadata(
                metadata=_renewal_metadata(credentials), refresh_using=self._refresh, method="provena-renew"
            )
        config = Config(
            retries={"max_attempts": settings.request_attempts, "mode": "standard"},
            max_pool_connections=settings.workers + settings.part_workers + 4,
            connect_timeout=10,
            read_timeout=settings.timeout,
            user_agent_extra="provena-widgets",
            **({"s3": {"addressing_style": "path"}} if endpoint_url else {}),
        )
        ranged = config.merge(Config(response_checksum_validation="when_required"))
        self._signing = session.get_credentials()  # botocore's, which renew themselves when due
        self.client: Any = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        self.ranged_client: Any = session.client("s3", endpoint_url=endpoint_url or None, config=ranged)
        self.endpoint_url: str = self.client.meta.endpoint_url
        self.crt = (
            CrtRequests(
                self.endpoint_url,
                location.bucket,
                region,
                self._signing,
                settings.crt_memory,
                settings.timeout,
            )
            if settings.crt and crt_available()
            else None
        )

    @property
    def credentials(self) -> Credentials:
        """The credentials in use (the latest, when they renew)."""
        return self._credentials

    @property
    def renews(self) -> bool:
        return self._renew is not None

    def _refresh(self) -> dict[str, str]:
        assert self._renew is not None
        self._credentials = self._renew()
        return _renewal_metadata(self._credentials)

    def renew_if_due(self) -> Credentials:
        """The credentials, renewed first if botocore's renewal window (15 minutes before
        expiry) has come: no request is made for it."""
        self._signing.get_frozen_credentials()
        return self._credentials

    def ensure_credentials(self) -> None:
        """Refuse, before any request, credentials that have expired and will not renew."""
        if self._renew is None:
            self._credentials.ensure_valid()

    def translate(self, error: BaseException, action: str, path: str) -> ProvenaWidgetsError:
        """The typed error, in one sentence, for ``error`` while trying to ``action`` ``path``."""
        return translate(
            error,
            action=action,
            path=path or "the dataset folder",
            credentials=self._credentials,
            endpoint=self.endpoint_url,
        )

    def call(self, action: str, path: str, method: str, **kwargs: Any) -> Any:
        """One request on the dataset's bucket; its failure raised as a typed error."""
        try:
            return getattr(self.client, method)(Bucket=self.location.bucket, **kwargs)
        except Exception as exc:
            raise self.translate(exc, action, path) from None


def _renewal_metadata(credentials: Credentials) -> dict[str, str]:
    """Credentials as botocore's refreshable credentials take them."""
    expiry = credentials.expiry or datetime.now(timezone.utc)
    return {
        "access_key": credentials.access_key_id,
        "secret_key": credentials.secret_access_key,
        "token": credentials.session_token or "",
        "expiry_time": expiry.isoformat(),
    }
