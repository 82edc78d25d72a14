"""Credentials.parse takes everything people paste, and refuses the rest with one clear line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from provena_widgets import Credentials, CredentialsExpired, CredentialsFormatError

AK = "ASIAQ3EXAMPLE7KEY123"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEHsaDmFwLXNvdXRoZWFzdC0yIkcwRQIhA" + "Zm9vYmFy/+" * 30 + "Q=="


def _check(creds: Credentials) -> None:
    assert creds.access_key_id == AK
    assert creds.secret_access_key == SK
    assert creds.session_token == TOKEN


BASH = (
    f'export AWS_ACCESS_KEY_ID="{AK}"\n'
    f'export AWS_SECRET_ACCESS_KEY="{SK}"\n'
    f'export AWS_SESSION_TOKEN="{TOKEN}"\n'
)
CMD = f"SET AWS_ACCESS_KEY_ID={AK}\r\nSET AWS_SECRET_ACCESS_KEY={SK}\r\nSET AWS_SESSION_TOKEN={TOKEN}\r\n"
POWERSHELL = (
    f'$Env:AWS_ACCESS_KEY_ID="{AK}"\n$Env:AWS_SECRET_ACCESS_KEY="{SK}"\n$Env:AWS_SESSION_TOKEN="{TOKEN}"'
)
CONFIGURE = (
    f"[default]\naws_access_key_id = {AK}\naws_secret_access_key = {SK}\naws_session_token = {TOKEN}\n"
)
BARE = f"{AK}\n{SK}\n{TOKEN}\n"


@pytest.mark.parametrize(
    "text",
    [
        BASH,
        CMD,
        POWERSHELL,
        CONFIGURE,
        BARE,
        "\n\n  " + BASH.replace("\n", "\r\n\r\n") + "  \n",  # blank lines, CRLF, spaces
        BASH.replace('"', "'"),
        BASH.replace('"', ""),
        f"  {AK}  \n\n'{SK}'\n\"{TOKEN}\"  \n",
        BASH + "export AWS_DEFAULT_REGION=ap-southeast-2\naws s3 ls s3://b/datasets/10378-1-1/\n",
        f'export  AWS_ACCESS_KEY_ID = "{AK}"\nexport AWS_SECRET_ACCESS_KEY= {SK}\n'
        f"export AWS_SESSION_TOKEN ={TOKEN}",
        f"AWS_ACCESS_KEY_ID={AK}\nAWS_SECRET_ACCESS_KEY={SK}\nAWS_SESSION_TOKEN={TOKEN}",
        BASH.replace('"', "\u201c", 1),  # a smart quote from a word processor
    ],
    ids=[
        "bash",
        "cmd",
        "powershell",
        "configure",
        "bare",
        "messy",
        "single-quotes",
        "no-quotes",
        "bare-quoted",
        "with-extra-lines",
        "spaced",
        "dotenv",
        "smart-quote",
    ],
)
def test_parse_accepts_every_paste_format(text: str) -> None:
    _check(Credentials.parse(text))


def test_parse_reads_provena_json_with_expiry() -> None:
    body = {
        "status": {"success": True, "details": "ok"},
        "credentials": {
            "aws_access_key_id": AK,
            "aws_secret_access_key": SK,
            "aws_session_token": TOKEN,
            "expiry": "2026-11-25T22:00:00+00:00",
        },
        "console_session_url": None,
    }
    for text in (json.dumps(body), json.dumps(body["credentials"], indent=2)):
        creds = Credentials.parse(text)
        _check(creds)
        assert creds.expiry == datetime(2026, 11, 25, 22, tzinfo=timezone.utc)


def test_parse_reads_sts_json() -> None:
    sts = {
        "Credentials": {
            "AccessKeyId": AK,
            "SecretAccessKey": SK,
            "SessionToken": TOKEN,
            "Expiration": "2026-11-25T22:00:00Z",
        }
    }
    creds = Credentials.parse(json.dumps(sts))
    _check(creds)
    assert creds.expiry is not None and creds.expiry.tzinfo is not None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "nothing was pasted"),
        ("   \n\n", "nothing was pasted"),
        (f"{AK}\n{SK}\n", "session token"),
        (f'export AWS_ACCESS_KEY_ID="{AK}"\nexport AWS_SECRET_ACCESS_KEY="{SK}"', "session token"),
        (
            f'export AWS_SECRET_ACCESS_KEY="{SK}"\nexport AWS_SESSION_TOKEN="{TOKEN}"',
            "access key id",
        ),
        (
            f'export AWS_ACCESS_KEY_ID="{AK}"\nexport AWS_SESSION_TOKEN="{TOKEN}"',
            "secret access key",
        ),
        (f"{TOKEN}\n{SK}\n{AK}", "out of order"),
        (f"{AK}\n{SK}\n{SK}", "same as the secret"),
        (f"{AK}\n{SK}\n{SK[:-2]}xy", "too short"),
        (f"{AK[:-1]}!\n{SK}\n{TOKEN}", "access key id"),
        (f"{AK.lower()}\n{SK}\n{TOKEN}", "access key id"),
        (f"{AK}\n{SK} extra\n{TOKEN}", "secret access key"),
        (f"{AK}\n{SK}\n{TOKEN[:50]} {TOKEN[50:]}", "spaces"),
        (f"{AK}\n{SK}\n{TOKEN[:50]}\u0405{TOKEN[51:]}", "ascii"),  # Cyrillic look-alike
        ("hello world", "do not look like aws credentials"),
        (f"{AK}\n{SK}\n{TOKEN}\nexport AWS_EXPIRY=x", "do not look"),
        (
            json.dumps(
                {
                    "credentials": {
                        "aws_access_key_id": AK,
                        "aws_secret_access_key": SK,
                        "aws_session_token": TOKEN,
                        "expiry": "tomorrow",
                    }
                }
            ),
            "expiry",
        ),
    ],
)
def test_parse_rejects_bad_input_with_one_clear_line(text: str, words: str) -> None:
    with pytest.raises(CredentialsFormatError) as err:
        Credentials.parse(text)
    message = str(err.value)
    assert "\n" not in message
    assert words in message.lower()
    assert SK not in message and TOKEN not in message


def test_repr_and_str_hide_secret_and_token() -> None:
    creds = Credentials.parse(BASH)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SK not in text and TOKEN not in text and TOKEN[:20] not in text
        assert AK in text


def test_constructor_takes_long_term_keys_without_token() -> None:
    creds = Credentials(access_key_id="AKIAEXAMPLELONGTERM1", secret_access_key=SK)
    assert creds.session_token is None and not creds.is_temporary
    assert Credentials.from_fields(AK, SK, None, require_token=False).session_token is None


def test_expiry_countdown_and_expired_check() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    creds = Credentials(AK, SK, TOKEN, expiry=now + timedelta(hours=8))
    assert creds.remaining(now) == timedelta(hours=8)
    assert not creds.is_expired(now=now)
    assert creds.is_expired(margin=timedelta(hours=9), now=now)
    naive = Credentials(AK, SK, TOKEN, expiry=datetime(2020, 1, 1))
    assert naive.expiry is not None and naive.expiry.tzinfo == timezone.utc
    with pytest.raises(CredentialsExpired, match="expired"):
        naive.ensure_valid()
