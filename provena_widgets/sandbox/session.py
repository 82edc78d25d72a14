"""How the demo hands its local server and credentials to the notebook it opens (a 0600 file)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..credentials import Credentials, parse_expiry
from ..location import DatasetLocation
from ..private_files import write_private_json
from ..provena.config import ProvenaConfig
from ..store import DatasetStore
from .provena_standin import ProvenaStandIn
from .s3server import LocalS3Server

SESSION_ENV = "PROVENA_DEMO_SESSION"


@dataclass(frozen=True)
class DemoSession:
    """The demo's endpoint, dataset folder and dataset credentials."""

    endpoint_url: str
    location: DatasetLocation
    credentials: Credentials
    handle: str = ""
    provena: ProvenaConfig | None = None  # the local Provena stand-in, where one runs

    @classmethod
    def create(cls, server: LocalS3Server, stand_in: ProvenaStandIn, handle: str) -> DemoSession:
        """Write credentials for ``handle``'s folder, straight from the S3 server's STS."""
        record = stand_in.datasets[handle]
        location = DatasetLocation(record.bucket, record.path)
        creds = server.dataset_credentials(location.bucket, location.prefix, write=True)
        return cls(server.endpoint_url, location, creds, handle, stand_in.config)

    def save(self, path: Path) -> None:
        """Write the session for the notebook's kernel, readable by this user only."""
        data = {
            "endpoint_url": self.endpoint_url,
            "location": self.location.s3_uri,
            "aws_access_key_id": self.credentials.access_key_id,
            "aws_secret_access_key": self.credentials.secret_access_key,
            "aws_session_token": self.credentials.session_token,
            "expiry": self.credentials.expiry.isoformat() if self.credentials.expiry else None,
            "handle": self.handle,
            "provena_data_api_url": self.provena.data_api_url if self.provena else None,
            "provena_realm_url": self.provena.realm_url if self.provena else None,
        }
        write_private_json(path, data)

    @classmethod
    def load(cls, path: str | None = None) -> DemoSession:
        """The session the demo launcher saved (its path is in ``$PROVENA_DEMO_SESSION``)."""
        where = path or os.environ.get(SESSION_ENV)
        if not where:
            raise RuntimeError("No demo session: start the demo with scripts/demo.")
        data = json.loads(Path(where).read_text())
        creds = Credentials(
            data["aws_access_key_id"],
            data["aws_secret_access_key"],
            data["aws_session_token"],
            parse_expiry(data["expiry"]) if data.get("expiry") else None,
        )
        provena = (
            ProvenaConfig(data["provena_data_api_url"], data["provena_realm_url"])
            if data.get("provena_data_api_url")
            else None
        )
        return cls(
            data["endpoint_url"],
            DatasetLocation.parse(data["location"]),
            creds,
            data.get("handle", ""),
            provena,
        )

    def store(self) -> DatasetStore:
        return DatasetStore(self.credentials, self.location, endpoint_url=self.endpoint_url)
