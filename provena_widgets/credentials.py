"""Temporary AWS credentials: the value object, parsing of what people paste, and expiry."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import redact
from .errors import CredentialsExpired, CredentialsFormatError

__all__ = ["Credentials", "parse_expiry"]

_FIELD_NAMES = {
    "aws_access_key_id": "access_key_id",
    "accesskeyid": "access_key_id",
    "access_key_id": "access_key_id",
    "aws_secret_access_key": "secret_access_key",
    "secretaccesskey": "secret_access_key",
    "secret_access_key": "secret_access_key",
    "aws_session_token": "session_token",
    "aws_security_token": "session_token",
    "sessiontoken": "session_token",
    "session_token": "session_token",
    "expiry": "expiry",
    "expiration": "expiry",
    "aws_credential_expiration": "expiry",
    "aws_session_expiration": "expiry",
}
_LABELS = {
    "access_key_id": "access key ID (AWS_ACCESS_KEY_ID)",
    "secret_access_key": "secret access key (AWS_SECRET_ACCESS_KEY)",
    "session_token": "session token (AWS_SESSION_TOKEN)",
}
# `export NAME="v"`, `SET NAME=v`, `$Env:NAME="v"`, `name = v`, `"name": "v",`
_ASSIGNMENT = re.compile(
    r"""^\s*(?:export\s+|set\s+|\$env:)?["']?([A-Za-z_][A-Za-z0-9_]*)["']?\s*[=:]\s*(.*?)\s*[,;]?\s*$""",
    re.IGNORECASE,
)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_ACCESS_KEY = re.compile(r"^[A-Z0-9]{16,128}$")
_SECRET = re.compile(r"^[A-Za-z0-9/+=]{16,128}$")
_TOKEN = re.compile(r"^[A-Za-z0-9/+=_-]{16,}$")
_NON_ASCII_HINT = "it contains a character that is not plain ASCII (a look-alike or smart quote?)"


@dataclass(frozen=True)
class Credentials:
    """AWS credentials for one dataset. ``repr`` and ``str`` never show the secret or the token.

    ``session_token`` may be ``None`` for long-term keys of other S3-compatible services.
    ``expiry`` is timezone-aware (UTC assumed when a naive datetime is given).
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiry: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("access_key_id", "secret_access_key"):
            if not getattr(self, name):
                raise CredentialsFormatError(f"The {_LABELS[name]} is empty.")
        if self.session_token == "":
            object.__setattr__(self, "session_token", None)
        redact.register(self.secret_access_key, self.session_token)
        if self.expiry is not None and self.expiry.tzinfo is None:
            object.__setattr__(self, "expiry", self.expiry.replace(tzinfo=timezone.utc))

    def __repr__(self) -> str:
        token = ", session_token=<hidden>" if self.session_token else ""
        expiry = f", expiry={self.expiry.isoformat()}" if self.expiry else ""
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key=<hidden>{token}{expiry})"

    __str__ = __repr__

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """Read credentials from anything Provena's pages or the AWS tools let people copy.

        Accepts the bash / CMD / PowerShell blocks, the JSON ``credentials`` object (or the whole
        response), ``aws configure``-style ``key = value`` lines, and three bare lines in the order
        access key, secret, token. Raises :class:`CredentialsFormatError` naming the bad field.
        """
        if not isinstance(text, str) or not text.strip():
            raise CredentialsFormatError(
                "Nothing was pasted: copy the credentials block from the Data Store page."
            )
        fields = _fields_from_json(text)
        if fields is None:
            fields = _fields_from_lines(text)
        return cls.from_fields(**fields)

    @classmethod
    def from_fields(
        cls,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        expiry: str | datetime | None = None,
        *,
        require_token: bool = True,
    ) -> Credentials:
        """Build credentials from separately typed values, checking each field's shape.

        Stray quotes and spaces are removed. With ``require_token`` (Provena always issues one)
        a missing session token is reported as the paste mistake it is.
        """
        access = _clean(access_key_id)
        secret = _clean(secret_access_key)
        token = _clean(session_token)
        for name, value in (("access_key_id", access), ("secret_access_key", secret)):
            if not value:
                raise CredentialsFormatError(f"The {_LABELS[name]} is missing.")
        if not token and require_token:
            raise CredentialsFormatError(
                "The session token (AWS_SESSION_TOKEN) is missing: Provena's credentials always "
                "have three parts; copy the whole block, including the session token."
            )
        _check_shapes(access, secret, token)
        when = expiry if isinstance(expiry, datetime) or expiry is None else parse_expiry(expiry)
        return cls(access, secret, token or None, when)

    @property
    def is_temporary(self) -> bool:
        return self.session_token is not None

    def remaining(self, now: datetime | None = None) -> timedelta | None:
        """Time left before expiry, ``None`` when the expiry is unknown."""
        if self.expiry is None:
            return None
        return self.expiry - (now or datetime.now(timezone.utc))

    def is_expired(self, margin: timedelta = timedelta(0), now: datetime | None = None) -> bool:
        left = self.remaining(now)
        return left is not None and left <= margin

    def ensure_valid(self) -> None:
        """Raise :class:`CredentialsExpired` if the known expiry has passed."""
        if self.is_expired():
            raise CredentialsExpired(
                f"These credentials expired at {self.expiry:%Y-%m-%d %H:%M} UTC: "
                "generate new ones on the Data Store page and paste them again."
            )

    def boto_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.Session`` / ``client``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


def parse_expiry(value: str) -> datetime:
    """Parse an ISO-8601 expiry; a value with no offset is taken as UTC."""
    text = _clean(value)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CredentialsFormatError(
            f"The expiry {text[:40]!r} is not a date and time like 2026-11-25T14:00:00+00:00."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _clean(value: str | None) -> str:
    if value is None:
        return ""
    text = str(value).replace("\u00a0", " ").strip()
    while text and (text[0] in _QUOTES or text[-1] in _QUOTES or text[-1] in ",;"):
        text = text.strip(_QUOTES).rstrip(",;").strip()
    return text


def _fields_from_json(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        return None  # not whole JSON: read it line by line, which handles fragments
    if not isinstance(data, dict):
        return None
    inner = data.get("credentials") or data.get("Credentials") or data
    if not isinstance(inner, Mapping):
        raise CredentialsFormatError("The pasted JSON has no 'credentials' object.")
    fields: dict[str, Any] = {}
    for key, value in inner.items():
        name = _FIELD_NAMES.get(str(key).lower().replace("-", "_"))
        if name and value is not None:
            fields[name] = value if isinstance(value, datetime) else str(value)
    return fields


def _fields_from_lines(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    bare: list[str] = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line or line.startswith(("#", "[", "{", "}", "REM ", "aws ")):
            continue
        match = _ASSIGNMENT.match(line)
        name = _FIELD_NAMES.get(match.group(1).lower()) if match else None
        if match and name:
            fields[name] = _clean(match.group(2))
        elif not match or match.group(1).lower() not in _IGNORED_NAMES:
            bare.append(_clean(line))
    bare = [value for value in bare if value]
    if fields:
        return fields
    return _fields_from_bare_lines(bare)


# Other variables a pasted shell block may hold, which are not credentials.
_IGNORED_NAMES = {"aws_default_region", "aws_region", "region", "output", "aws_profile"}


def _fields_from_bare_lines(values: list[str]) -> dict[str, Any]:
    if len(values) == 3:
        access, secret, token = values
        if _ACCESS_KEY.match(token) and not _ACCESS_KEY.match(access):
            raise CredentialsFormatError(
                "The three values look out of order: paste the access key ID, the secret access "
                "key and the session token, one per line, in that order."
            )
        return {"access_key_id": access, "secret_access_key": secret, "session_token": token}
    if len(values) == 2:
        raise CredentialsFormatError(
            "Only two values were found: the session token (AWS_SESSION_TOKEN) is missing; "
            "Provena's credentials have three parts."
        )
    raise CredentialsFormatError(
        "These do not look like AWS credentials: paste the block from the Data Store page "
        "(export AWS_ACCESS_KEY_ID=... lines) or the three values, one per line."
    )


def _check_shapes(access: str, secret: str, token: str) -> None:
    for name, value in (
        ("access_key_id", access),
        ("secret_access_key", secret),
        ("session_token", token),
    ):
        if value and not value.isascii():
            raise CredentialsFormatError(f"The {_LABELS[name]} looks wrong: {_NON_ASCII_HINT}.")
        if any(ch.isspace() for ch in value):
            raise CredentialsFormatError(
                f"The {_LABELS[name]} contains spaces or line breaks: paste it again as one piece."
            )
    if not _ACCESS_KEY.match(access):
        raise CredentialsFormatError(
            f"The {_LABELS['access_key_id']} looks malformed: expected 16 or more capital letters "
            "and digits, like ASIA...; check it is not the secret or the token."
        )
    if not _SECRET.match(secret):
        raise CredentialsFormatError(
            f"The {_LABELS['secret_access_key']} looks malformed: expected about 40 letters, "
            "digits, / and +; check it is not the session token."
        )
    if not token:
        return
    if not _TOKEN.match(token):
        raise CredentialsFormatError(
            f"The {_LABELS['session_token']} looks malformed: it should be one long run of "
            "letters, digits, / + and =."
        )
    if token == secret:
        raise CredentialsFormatError(
            "The session token is the same as the secret key: paste AWS_SESSION_TOKEN's value "
            "into the token box."
        )
    if len(token) < 100 and access.startswith("ASIA"):
        raise CredentialsFormatError(
            f"The session token is too short ({len(token)} characters): is that the secret key? "
            "A Provena session token is hundreds of characters long."
        )
