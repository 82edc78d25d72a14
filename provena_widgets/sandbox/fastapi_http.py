"""The stand-in's HTTP as FastAPI speaks it: request parsing, JSON and HTML answers, 422 details."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse


def missing_field(loc: list[str], given: Any) -> dict[str, Any]:
    """FastAPI's (pydantic v2) validation error for a missing field."""
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": given}


def request_problems(body: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 details for a body that is not a ``CredentialsRequest`` (types checked strictly)."""
    if body is None:
        return [missing_field(["body"], None)]
    if not isinstance(body, dict):
        text = "Input should be a valid dictionary or object to extract fields from"
        return [{"type": "model_attributes_type", "loc": ["body"], "msg": text, "input": body}]
    problems = []
    for name, kind, code, text in (
        ("dataset_id", str, "string_type", "Input should be a valid string"),
        ("console_session_required", bool, "bool_type", "Input should be a valid boolean"),
    ):
        if name not in body:
            problems.append(missing_field(["body", name], body))
        elif not isinstance(body[name], kind):
            problems.append({"type": code, "loc": ["body", name], "msg": text, "input": body[name]})
    return problems


def with_unknown_fields(value: Any) -> Any:
    """``value`` with a field no client knows added to each JSON object in it."""
    if isinstance(value, list):
        return [with_unknown_fields(item) for item in value]
    if isinstance(value, dict):
        known = {key: with_unknown_fields(item) for key, item in value.items()}
        return {**known, "added_in_a_later_version": {"note": ["ignore me", 1, None]}}
    return value


@dataclass(frozen=True)
class Page:
    """An HTML answer (the verification page)."""

    html: str


class Router(Protocol):
    """What serves the requests: one call per request, and whether answers carry unknown fields."""

    unknown_fields: bool

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        body: Any,
        headers: dict[str, str],
    ) -> tuple[int, Any]: ...


class JsonHandler(BaseHTTPRequestHandler):
    """Parses a request (query, form or JSON body) for ``owner`` and writes its JSON or HTML answer."""

    owner: Router
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tokens travel in requests
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form: dict[str, str] = {}
        body: Any = None
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer = self.owner.route(method, url.path, query, form, body, headers)
        if isinstance(answer, Page):
            data, kind = f"<!doctype html><html><body>{answer.html}</body></html>".encode(), "text/html"
        else:
            answer = with_unknown_fields(answer) if self.owner.unknown_fields else answer
            data, kind = json.dumps(answer).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
