"""Short-lived GET URLs of dataset files, for a browser to fetch straight from S3."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
from botocore.config import Config

from ..errors import CredentialsExpired, InvalidPath
from .connection import Connection

PRESIGN_SECONDS = 300  # a download starts at once: minutes are plenty
MARGIN = 30  # seconds a URL must end before the credentials that sign it
MIN_SECONDS = 10


def presigned_get(connection: Connection, path: str, seconds: int = PRESIGN_SECONDS) -> str:
    """A GET URL of the file ``path`` (as an attachment) that expires within ``seconds``, and
    never after the credentials do. Credentials that renew are renewed first when they must be."""
    location = connection.location
    key = location.key(path)
    if key.endswith("/") or key == location.prefix:
        raise InvalidPath(f"{path!r} is a folder: only files have a download URL.")
    connection.ensure_credentials()
    left = _seconds_left(connection)
    if left is not None and left < seconds and connection.renews:
        connection.renew_if_due()
        left = _seconds_left(connection)
    if left is not None and left < seconds:
        if left < MIN_SECONDS:
            raise CredentialsExpired(
                "The credentials expire too soon for a download link: renew them and try again."
            )
        seconds = left
    return _sign(connection, key, seconds)


def _sign(connection: Connection, key: str, seconds: int) -> str:
    """Sign with SigV4 (``X-Amz-Expires``; boto3 presigns S3 URLs with SigV2 unless told)."""
    meta = connection.client.meta
    config = Config(signature_version="s3v4", s3=meta.config.s3)
    signer = boto3.session.Session(region_name=meta.region_name, **connection.credentials.boto_kwargs())
    client = signer.client("s3", endpoint_url=meta.endpoint_url, config=config)
    name = key.rsplit("/", 1)[-1].replace('"', "")
    url: str = client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": connection.location.bucket,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{name}"',
        },
        ExpiresIn=seconds,
    )
    return url


def _seconds_left(connection: Connection) -> int | None:
    expiry = connection.credentials.expiry
    if expiry is None:
        return None
    return int((expiry - datetime.now(timezone.utc)).total_seconds()) - MARGIN
