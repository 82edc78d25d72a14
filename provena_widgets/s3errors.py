"""Turning botocore's exceptions into typed errors with one plain sentence each."""

from __future__ import annotations

import errno
import http.client
import socket

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    EndpointConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from .credentials import Credentials
from .errors import (
    AccessDenied,
    CredentialsExpired,
    CredentialsInvalid,
    DiskFull,
    IncompleteTransfer,
    IntegrityError,
    LocalPathError,
    NetworkError,
    NotFound,
    ProvenaWidgetsError,
)

_EXPIRED = {"ExpiredToken", "TokenRefreshRequired", "RequestExpired", "ExpiredTokenException"}
_BAD_TOKEN = {"InvalidToken", "InvalidClientTokenId", "UnrecognizedClientException"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
_SERVER = {"InternalError", "ServiceUnavailable", "InternalServerError"}
_TRANSIENT_IO = (
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
    Urllib3Error,
    http.client.HTTPException,
    socket.timeout,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)

_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
WRITE_ACTIONS = {"upload", "delete", "create a folder in", "write to"}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(error: BaseException) -> bool:
    """Worth retrying: resets, timeouts, truncated bodies, 5xx and throttling."""
    if isinstance(error, ClientError):
        code = error_code(error)
        return code in _THROTTLED or code in _SERVER or http_status(error) >= 500
    return isinstance(error, (*_TRANSIENT_IO, IncompleteTransfer))


def translate(
    error: BaseException,
    *,
    action: str,
    path: str,
    credentials: Credentials | None = None,
    endpoint: str | None = None,
) -> ProvenaWidgetsError:
    """A typed error for ``error``, raised while trying to ``action`` ``path``."""
    if isinstance(error, ProvenaWidgetsError):
        return error
    if isinstance(error, ClientError):
        return _from_client_error(error, action, path, credentials)
    if isinstance(error, OSError) and error.errno in _NO_ROOM:
        return DiskFull(
            f"There is not enough room on the local disk for {path}: free some space, then run the "
            "download again (files already finished are kept)."
        )
    if isinstance(error, OSError) and not isinstance(error, _TRANSIENT_IO):
        return LocalPathError(f"Could not {action} {path}: {error.strerror or error}.")
    if isinstance(error, FlexibleChecksumError):
        return IntegrityError(
            f"{path} did not match its checksum on the way, so it was not kept: {action} it again."
        )
    if isinstance(error, (EndpointConnectionError, *_TRANSIENT_IO)):
        where = f" at {endpoint}" if endpoint else ""
        return NetworkError(
            f"Could not reach the storage service{where} to {action} {path}: check the network "
            "connection and try again."
        )
    if isinstance(error, BotoCoreError):
        return ProvenaWidgetsError(f"Could not {action} {path}: {error}")
    return ProvenaWidgetsError(f"Could not {action} {path}: {type(error).__name__}: {error}")


def _from_client_error(
    error: ClientError, action: str, path: str, credentials: Credentials | None
) -> ProvenaWidgetsError:
    code = error_code(error)
    status = http_status(error)
    expired = credentials is not None and credentials.is_expired()
    if code in _EXPIRED or (expired and code in {"InvalidAccessKeyId", "AccessDenied"}):
        return CredentialsExpired(
            "The credentials have expired: generate new ones on the Data Store page "
            "(or press Generate again) and connect again."
        )
    if code == "InvalidAccessKeyId":
        return CredentialsInvalid(
            "The access key ID was not recognised: it is mistyped, or the temporary credentials "
            "have run out; paste fresh credentials from the Data Store page."
        )
    if code == "SignatureDoesNotMatch":
        return CredentialsInvalid(
            "The secret access key does not match the access key ID: paste the secret again."
        )
    if code in _BAD_TOKEN:
        return CredentialsInvalid(
            "The session token was refused as damaged or incomplete: paste the whole token again "
            "(it is hundreds of characters long)."
        )
    if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
        hint = (
            "these may be read-only credentials or the dataset may be locked or released; "
            "generate write credentials"
            if action in WRITE_ACTIONS
            else "check that the credentials belong to this dataset"
        )
        return AccessDenied(f"Access denied: you cannot {action} {path}; {hint}.")
    if code == "NoSuchBucket":
        return NotFound(
            f"The bucket for {path} does not exist at this endpoint: check the dataset path and the endpoint."
        )
    if code in ("NoSuchKey", "NotFound", "404") or status == 404:
        return NotFound(f"{path} does not exist in the dataset.")
    if code == "NoSuchUpload":
        return NotFound(f"The upload of {path} was aborted on the server; run it again.")
    if code in ("BadDigest", "InvalidDigest"):
        return IntegrityError(
            f"{path} did not match its checksum on the way, so it was not kept: {action} it again."
        )
    if code == "PreconditionFailed" or status == 412:
        return IntegrityError(f"{path} changed on the server during the transfer; run it again.")
    if code in _THROTTLED or code in _SERVER or status >= 500:
        return NetworkError(
            f"The storage service kept failing ({code or status}) while trying to {action} "
            f"{path}: try again in a few minutes."
        )
    message = error.response.get("Error", {}).get("Message", "")
    return ProvenaWidgetsError(f"Could not {action} {path}: {code or status} {message}".strip())


def is_fatal(error: ProvenaWidgetsError) -> bool:
    """Errors that would fail every other file too, so a transfer stops on them."""
    return isinstance(error, (CredentialsExpired, CredentialsInvalid, AccessDenied, DiskFull))


def refuses_checksum(error: ClientError) -> bool:
    """The server does not support the flexible checksum we sent (some S3-compatible servers)."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "")).lower()
    return code in ("NotImplemented", "InvalidRequest", "InvalidArgument") and "checksum" in message
