"""Keeping secrets out of logs: every log record is scrubbed of registered secret values.

botocore logs request headers at DEBUG, session token included. A log-record factory (installed
on import, chained to any existing one) replaces each registered secret with ``<hidden>`` before a
handler can see it. Credentials and Provena tokens register themselves when created.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

_secrets: set[str] = set()
_lock = threading.Lock()
_MIN_LENGTH = 8  # never register short strings: they could match ordinary text
# Secrets inside response bodies botocore logs (an STS answer) before anyone could register them.
_IN_BODIES = re.compile(
    r"(<(SecretAccessKey|SessionToken)>)[^<]*(</\2>)|"
    r"(\"(aws_secret_access_key|aws_session_token|access_token|refresh_token)\"\s*:\s*\")[^\"]*(\")"
)


def register(*values: str | None) -> None:
    """Remember values that must never appear in a log message."""
    with _lock:
        _secrets.update(value for value in values if value and len(value) >= _MIN_LENGTH)


def scrub(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "<hidden>")
    return _IN_BODIES.sub(lambda m: f"{m.group(1) or m.group(4)}<hidden>{m.group(3) or m.group(6)}", text)


def _install() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_provena_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.levelno <= logging.DEBUG or _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to logging's own error handling
                return record
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    factory._provena_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install()
