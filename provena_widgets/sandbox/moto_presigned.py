"""moto's server with S3's SigV4 query-string authentication (presigned URLs): a sandbox fidelity
fix, run as LocalS3Server's subprocess (``python -m provena_widgets.sandbox.moto_presigned``).

moto 5.x in auth mode (5.2.5, the latest as of writing) checks only the ``Authorization`` header:
``IAMRequestBase.__init__`` (moto/iam/access_control.py) raises KeyError on a presigned URL, an
HTTP 500. S3 accepts the same signature in the query, and so does this server: the credential
scope, session token and signature come from the query, the expected signature is botocore's
S3SigV4QueryAuth over the same request, a URL past its ``X-Amz-Expires`` is refused, and the
signer's IAM policy applies as to any other request.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import server
from moto.iam import access_control
from moto.s3.exceptions import S3ClientError

QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
MAX_EXPIRES = 7 * 24 * 3600  # S3's longest X-Amz-Expires


class QueryAuthError(S3ClientError):
    """S3's 400 for a presigned URL whose authentication parameters are missing or malformed."""

    code = "AuthorizationQueryParametersError"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class ExpiredRequest(S3ClientError):
    """S3's 403 for a presigned URL used after its expiry."""

    def __init__(self) -> None:
        super().__init__("AccessDenied", "Request has expired")


class PresignedS3IAMRequest(access_control.S3IAMRequest):
    """moto's S3 request check that also reads SigV4 authentication from the query string."""

    def __init__(
        self,
        account_id: str,
        method: str,
        path: str,
        data: dict[str, str],
        body: bytes,
        headers: dict[str, str],
        action: str,
    ) -> None:
        self.query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        self.presigned = "X-Amz-Signature" in self.query and "Authorization" not in headers
        if self.presigned:
            self.expiry = _expiry(self.query)
            headers = dict(headers.items())  # moto reads the scope, token and signature from headers
            headers["Authorization"] = (
                f"AWS4-HMAC-SHA256 Credential={self.query['X-Amz-Credential']},"
                f"SignedHeaders={self.query['X-Amz-SignedHeaders']},Signature={self.query['X-Amz-Signature']}"
            )
            if "X-Amz-Security-Token" in self.query:
                headers["X-Amz-Security-Token"] = self.query["X-Amz-Security-Token"]
        super().__init__(account_id, method, path, data, body, headers, action)

    def check_signature(self) -> None:
        """The header check, or for a presigned URL its signature and then its expiry."""
        super().check_signature()
        if self.presigned and datetime.now(timezone.utc) > self.expiry:
            raise ExpiredRequest()

    def _create_auth(self, credentials: Credentials) -> SigV4Auth:
        if not self.presigned:
            return super()._create_auth(credentials)
        return S3SigV4QueryAuth(credentials, self._service, self._region, int(self.query["X-Amz-Expires"]))

    def _create_aws_request(self) -> AWSRequest:
        if not self.presigned:
            return super()._create_aws_request()
        url = urlsplit(self._path)
        query = "&".join(p for p in url.query.split("&") if not p.startswith("X-Amz-Signature="))
        signed = self.query["X-Amz-SignedHeaders"].split(";")
        headers = {name: value for name, value in self._headers.items() if name.lower() in signed}
        request = AWSRequest(method=self._method, url=url._replace(query=query).geturl(), headers=headers)
        request.context["timestamp"] = self.query["X-Amz-Date"]
        return request


def _expiry(query: dict[str, str]) -> datetime:
    """When a presigned URL with this query expires; S3's 400 if its parameters are wrong."""
    missing = [name for name in QUERY_AUTH if name not in query]
    if missing:
        raise QueryAuthError(f"Query-string authentication requires {', '.join(missing)}.")
    if query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise QueryAuthError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    if not query["X-Amz-Expires"].isdigit() or int(query["X-Amz-Expires"]) > MAX_EXPIRES:
        raise QueryAuthError(f"X-Amz-Expires must be a number of seconds no larger than {MAX_EXPIRES}.")
    try:
        signed = datetime.strptime(query["X-Amz-Date"], SIGV4_TIMESTAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        raise QueryAuthError("X-Amz-Date must be in the ISO8601 Long Format yyyyMMdd'T'HHmmss'Z'") from None
    return signed + timedelta(seconds=int(query["X-Amz-Expires"]))


def main() -> None:
    """Run ``moto.server`` (its command line) with presigned URLs understood."""
    access_control.S3IAMRequest = PresignedS3IAMRequest  # type: ignore[misc]
    server.main()


if __name__ == "__main__":
    main()
