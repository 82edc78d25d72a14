"""Presigned GET URLs (store.presigned_url) fetched over plain HTTP from the sandbox's S3, which
checks them as S3 does: the bytes as an attachment for the right URL; 403 for a tampered one, an
expired one, or one signed by another dataset's credentials; 400 for a malformed one."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SIGV4_TIMESTAMP, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from provena_widgets import Credentials, DatasetLocation, DatasetStore
from provena_widgets.sandbox.s3server import REGION, LocalS3Server

DATA = b"site,value\nHeron Island,1.5\n"


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a plain GET, as a browser's would be."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def error_code(body: bytes) -> str:
    return body.decode().partition("<Code>")[2].partition("</Code>")[0]


@pytest.fixture
def planted(admin: Any, location: DatasetLocation) -> DatasetLocation:
    for name in ("data/a.csv", "data/b.csv"):
        admin.put_object(Bucket=location.bucket, Key=location.prefix + name, Body=DATA + name.encode())
    return location


def test_a_presigned_url_gives_the_file_as_an_attachment(
    s3_server: LocalS3Server, read_credentials: Credentials, planted: DatasetLocation
) -> None:
    store = DatasetStore(read_credentials, planted, endpoint_url=s3_server.endpoint_url)  # read-only will do
    status, headers, body = fetch(store.presigned_url("data/a.csv"))
    assert (status, body) == (200, DATA + b"data/a.csv")
    assert headers["Content-Disposition"] == 'attachment; filename="a.csv"'


def test_a_tampered_url_is_refused(store: DatasetStore, planted: DatasetLocation) -> None:
    url = store.presigned_url("data/a.csv")
    signature = url.rpartition("X-Amz-Signature=")[2]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other_file = url.replace("/data/a.csv?", "/data/b.csv?")
    longer = url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000")
    for tampered in (url.replace(signature, forged), other_file, longer):
        status, _, body = fetch(tampered)
        assert (status, error_code(body)) == (403, "SignatureDoesNotMatch"), tampered
    undated = url.replace("&X-Amz-Date=", "&X-Amz-Dated=")
    for malformed in (undated, url.replace("X-Amz-Expires=300", "X-Amz-Expires=604801")):
        status, _, body = fetch(malformed)
        assert (status, error_code(body)) == (400, "AuthorizationQueryParametersError"), malformed


def test_an_expired_url_is_refused(
    s3_server: LocalS3Server, credentials: Credentials, planted: DatasetLocation
) -> None:
    key_url = f"{s3_server.endpoint_url}/{planted.bucket}/{quote(planted.prefix)}data/a.csv"
    signed = datetime.now(timezone.utc) - timedelta(minutes=2)
    assert fetch(sign_query(key_url, credentials, signed, 300))[0] == 200  # two minutes into five
    status, _, body = fetch(sign_query(key_url, credentials, signed, 60))  # one minute, gone
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert b"Request has expired" in body


def test_a_url_signed_with_another_datasets_credentials_is_refused(
    s3_server: LocalS3Server, planted: DatasetLocation
) -> None:
    neighbour = DatasetLocation.from_handle("10378.1/6999999", bucket=planted.bucket)
    theirs = s3_server.dataset_credentials(neighbour.bucket, neighbour.prefix, write=True)
    url = DatasetStore(theirs, planted, endpoint_url=s3_server.endpoint_url).presigned_url("data/a.csv")
    status, _, body = fetch(url)
    assert (status, error_code(body)) == (403, "AccessDenied")


def sign_query(url: str, credentials: Credentials, signed: datetime, expires: int) -> str:
    """A SigV4 presigned GET of ``url`` as signed at ``signed`` (botocore presigns only at now)."""
    timestamp = signed.strftime(SIGV4_TIMESTAMP)
    auth = S3SigV4QueryAuth(
        BotoCredentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
        "s3",
        REGION,
        expires,
    )
    request = AWSRequest("GET", url)
    request.context["timestamp"] = timestamp
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{credentials.access_key_id}/{timestamp[:8]}/{REGION}/s3/aws4_request",
        "X-Amz-Date": timestamp,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Security-Token": credentials.session_token or "",
    }
    request.url = f"{url}?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    request.headers["host"] = urlsplit(url).netloc
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return f"{request.url}&X-Amz-Signature={signature}"
