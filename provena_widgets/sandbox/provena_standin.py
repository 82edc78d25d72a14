"""A local stand-in for Provena: the Keycloak realm endpoints and the data store API we use.

It follows ``shared/provena-api.md``: device authorisation and token grants (device code, refresh
token, offline tokens), RS256 JWTs carrying ``realm_access.roles``, ``fetch-dataset`` (a complete
``ItemDataset``, see :mod:`.registry_records`) and both credential endpoints, answering in the shapes
of Provena's ``ProvenaInterfaces`` models (pydantic v2, as FastAPI serialises them) with the texts of
Provena's sources. Credentials are minted through the local S3 server's STS, so they are real session
credentials limited to the dataset folder.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..provena.config import ProvenaConfig
from .fastapi_http import JsonHandler, Page, missing_field, request_problems, with_unknown_fields
from .registry_records import AGENTS, Dataset, fetch_failure, item_dataset
from .s3server import LocalS3Server

__all__ = ["Dataset", "ProvenaStandIn", "demo_world", "with_unknown_fields"]

FETCH_ROUTE = ("GET", "/registry/items/fetch-dataset")
READ_ROUTE = ("POST", "/registry/credentials/generate-read-access-credentials")
WRITE_ROUTE = ("POST", "/registry/credentials/generate-write-access-credentials")

# The data store API's texts, as in Provena's sources (data-store-api and its Keycloak dependency).
FETCHED = "Successfully fetched data for handle '{}'"
GENERATED = "STS credentials generated successfully for specified path."
NO_REALM_ROLE = "You are not authorised to access this resource as you don't have the correct role."
NO_DATASET_ROLE = "You do not have sufficient permissions to {} this dataset!"
LOCKED_TEXT = (
    "This dataset is locked - you cannot modify the files of a locked dataset. Unlock the dataset first."
)
RELEASED_TEXT = (
    "Dataset {} is pending review or is released. Cannot modify dataset files while a review is ongoing."
)
EMPTY_HANDLE = "Empty string received for query handle_id"
GATEWAY = {504: "Endpoint request timed out"}  # API Gateway's answers; others say "Internal server error"


@dataclass
class _DeviceRequest:
    user_code: str
    client_id: str
    expires_at: float
    user: str | None = None
    denied: bool = False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class ProvenaStandIn:
    """A real HTTP server on 127.0.0.1 playing Provena's API and its Keycloak realm.

    ``users`` maps user names to realm roles; ``datasets`` maps handles to :class:`Dataset`;
    ``other_items`` holds handles of registered items that are not datasets (people, organisations).
    ``auto_approve`` names a user who approves device logins by merely opening the link.
    ``unknown_fields`` adds fields no client knows to every JSON object of every answer and token,
    as a newer Provena might, to check that clients ignore them.
    """

    s3: LocalS3Server
    users: dict[str, list[str]] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    other_items: set[str] = field(default_factory=lambda: set(AGENTS))
    realm: str = "rrap"
    access_token_lifetime: float = 300.0
    credential_lifetime: timedelta = timedelta(hours=8)
    device_interval: int = 1
    device_lifetime: float = 600.0
    auto_approve: str | None = None
    unknown_fields: bool = False
    hits: Counter[str] = field(default_factory=Counter)  # requests per route and grant, for tests
    _faults: list[int] = field(default_factory=list)
    _devices: dict[str, _DeviceRequest] = field(default_factory=dict)
    _refresh: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # token -> user, client, offline
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ProvenaStandIn:
        stand_in = self

        class Handler(JsonHandler):
            owner = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="provena-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ProvenaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def realm_path(self) -> str:
        return f"/auth/realms/{self.realm}"

    @property
    def config(self) -> ProvenaConfig:
        return ProvenaConfig(data_api_url=self.base_url, realm_url=self.base_url + self.realm_path)

    # -- set-up helpers for tests and the demo ------------------------------------------------

    def add_dataset(self, handle: str, dataset: Dataset) -> Dataset:
        self.s3.create_bucket(dataset.bucket)
        self.datasets[handle] = dataset
        return dataset

    def issue_offline_token(self, user: str) -> str:
        """An offline token for ``user`` (client ``automated-access``), as Keycloak would issue."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = (user, "automated-access", True)
        return token

    def revoke_all_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` data API calls with ``status`` (502/504: the gateway)."""
        with self._lock:
            self._faults.extend([status] * count)

    def approve(self, user_code: str, user: str, deny: bool = False) -> bool:
        """What the verification page's buttons do."""
        with self._lock:
            for request in self._devices.values():
                if request.user_code == user_code and request.expires_at > time.time():
                    request.user, request.denied = (None, True) if deny else (user, False)
                    return True
        return False

    # -- tokens ------------------------------------------------------------------------------

    @property
    def public_key_b64(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def _jwt(self, user: str, client_id: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.base_url + self.realm_path,
            "sub": f"user-{user}",
            "azp": client_id,
            "typ": "Bearer",
            "iat": now,
            "exp": now + int(self.access_token_lifetime),
            "preferred_username": user,
            "email": f"{user}@example.org",
            "realm_access": {"roles": list(self.users.get(user, []))},
            "jti": secrets.token_hex(8),
        }
        if self.unknown_fields:
            claims = with_unknown_fields(claims)
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "standin"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        signature = self._key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token signed by this realm; ``None`` otherwise."""
        try:
            header, payload, signature = token.split(".")
            self._key.public_key().verify(
                _unb64url(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(_unb64url(payload))
        except (ValueError, InvalidSignature):
            return None
        if not isinstance(claims, dict) or float(claims.get("exp", 0)) < time.time():
            return None
        return claims

    def _token_answer(
        self, user: str, client_id: str, offline: bool, refresh: str | None = None
    ) -> dict[str, Any]:
        refresh = refresh or secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = (user, client_id, offline)
        return {
            "access_token": self._jwt(user, client_id),
            "expires_in": int(self.access_token_lifetime),
            "refresh_token": refresh,
            "refresh_expires_in": 0 if offline else 1800,
            "token_type": "Bearer",
            "scope": "openid offline_access" if offline else "openid",
        }

    # -- routes ------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, str], form: dict[str, str], body: Any,
              headers: dict[str, str]) -> tuple[int, Any]:  # fmt: skip
        realm = self.realm_path
        self.hits[f"{method} {path}"] += 1
        if method == "GET" and path == realm:
            return 200, {"realm": self.realm, "public_key": self.public_key_b64,
                         "token-service": f"{self.base_url}{realm}/protocol/openid-connect"}  # fmt: skip
        if method == "POST" and path == f"{realm}/protocol/openid-connect/auth/device":
            return self._device_authorisation(form)
        if path == f"{realm}/device":
            return self._verification_page(method, query, form)
        if method == "POST" and path == f"{realm}/protocol/openid-connect/token":
            self.hits[f"grant {form.get('grant_type', '')}"] += 1
            return self._token(form)
        if path.startswith("/registry/"):
            return self._data_api(method, path, query, body, headers)
        return 404, {"detail": "Not Found"}

    def _data_api(self, method: str, path: str, query: dict[str, str], body: Any,
                  headers: dict[str, str]) -> tuple[int, Any]:  # fmt: skip
        """The data store API behind its gateway: faults, then routing, then the login."""
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return fault, {"message": GATEWAY.get(fault, "Internal server error")}
        route = (method, path)
        if route not in (FETCH_ROUTE, READ_ROUTE, WRITE_ROUTE):
            return 404, {"detail": "Not Found"}
        claims, problem = self._authenticate(headers)
        if claims is None:
            return 401, {"detail": problem}
        if route == FETCH_ROUTE:
            return self._fetch_dataset(claims, query.get("handle_id"))
        return self._credentials(claims, body, write=route == WRITE_ROUTE)

    def _device_authorisation(self, form: dict[str, str]) -> tuple[int, Any]:
        if form.get("client_id") != "client-tools":
            return 401, {"error": "unauthorized_client", "error_description": "Invalid client"}
        device_code = secrets.token_urlsafe(24)
        user_code = f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}"
        with self._lock:
            self._devices[device_code] = _DeviceRequest(
                user_code, "client-tools", time.time() + self.device_lifetime
            )
        uri = f"{self.base_url}{self.realm_path}/device"
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "verification_uri_complete": f"{uri}?user_code={user_code}",
            "expires_in": int(self.device_lifetime),
            "interval": self.device_interval,
        }

    def _verification_page(self, method: str, query: dict[str, str], form: dict[str, str]) -> tuple[int, Any]:
        code = form.get("user_code") or query.get("user_code", "")
        if method == "POST":
            ok = self.approve(code, form.get("username", ""), deny=form.get("action") == "deny")
            message = "Done: go back to the notebook." if ok else "That code is unknown or expired."
            return 200, Page(f"<h1>Provena stand-in</h1><p>{html.escape(message)}</p>")
        if self.auto_approve and self.approve(code, self.auto_approve):
            return 200, Page(f"<h1>Provena stand-in</h1><p>Approved as {html.escape(self.auto_approve)}: "
                              "go back to the notebook.</p>")  # fmt: skip
        options = "".join(f'<option value="{html.escape(u)}">{html.escape(u)}</option>' for u in self.users)
        return 200, Page(
            "<h1>Provena stand-in: approve the login</h1>"
            f'<form method="post"><p>Code: <input name="user_code" value="{html.escape(code)}"></p>'
            f'<p>Log in as: <select name="username">{options}</select></p>'
            '<button name="action" value="approve" id="approve">Approve</button> '
            '<button name="action" value="deny" id="deny">Deny</button></form>'
        )

    def _token(self, form: dict[str, str]) -> tuple[int, Any]:
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            with self._lock:
                request = self._devices.get(form.get("device_code", ""))
                if request is not None and (
                    request.user or request.denied or request.expires_at < time.time()
                ):
                    self._devices.pop(form.get("device_code", ""), None)
            if request is None or request.expires_at < time.time():
                return 400, {"error": "expired_token", "error_description": "Device code expired"}
            if request.denied:
                return 400, {"error": "access_denied", "error_description": "The user denied the login"}
            if request.user is None:
                return 400, {"error": "authorization_pending", "error_description": "Not yet approved"}
            return 200, self._token_answer(request.user, request.client_id, offline=False)
        if grant == "refresh_token":
            with self._lock:
                known = self._refresh.get(form.get("refresh_token", ""))
            if known is None or known[1] != form.get("client_id"):
                return 400, {"error": "invalid_grant", "error_description": "Token is not active"}
            user, client_id, offline = known
            if not offline:  # device-flow refresh tokens rotate; offline tokens stay
                with self._lock:
                    self._refresh.pop(form.get("refresh_token", ""), None)
            return 200, self._token_answer(
                user, client_id, offline, form["refresh_token"] if offline else None
            )
        return 400, {"error": "unsupported_grant_type"}

    def _authenticate(self, headers: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None, "Not authenticated"
        claims = self.verify(auth[7:].strip())
        return (claims, "") if claims else (None, "Could not validate credentials")

    def _fetch_dataset(self, claims: dict[str, Any], handle: str | None) -> tuple[int, Any]:
        if "entity-registry-read" not in claims["realm_access"]["roles"]:
            return 401, {"detail": NO_REALM_ROLE}
        if handle is None:
            return 422, {"detail": [missing_field(["query", "handle_id"], None)]}
        if not handle:
            return 400, {"detail": EMPTY_HANDLE}
        dataset = self.datasets.get(handle)
        if dataset is None:
            return 400, {"detail": fetch_failure(handle, handle in self.other_items)}
        return 200, {
            "status": {"success": True, "details": FETCHED.format(handle)},
            "item": item_dataset(handle, dataset),
            "roles": dataset.roles.get(claims["preferred_username"], []),
            "locked": dataset.locked,
        }

    def _credentials(self, claims: dict[str, Any], body: Any, write: bool) -> tuple[int, Any]:
        """The checks of Provena's credential routes, in their order."""
        realm_roles = claims["realm_access"]["roles"]
        needed = ["entity-registry-read"] + (["entity-registry-write"] if write else [])
        if any(role not in realm_roles for role in needed):
            return 401, {"detail": NO_REALM_ROLE}
        problems = request_problems(body)
        if problems:
            return 422, {"detail": problems}
        handle = body["dataset_id"]
        dataset = self.datasets.get(handle)
        if dataset is None:
            return 400, {"detail": fetch_failure(handle, handle in self.other_items)}
        if write and dataset.locked:
            return 401, {"detail": LOCKED_TEXT}
        roles = dataset.roles.get(claims["preferred_username"], [])
        allowed = (
            ("dataset-data-write", "admin") if write else ("dataset-data-read", "dataset-data-write", "admin")
        )
        if not any(role in roles for role in allowed):
            return 401, {"detail": NO_DATASET_ROLE.format("write to" if write else "read from")}
        if write and dataset.release_status in ("PENDING", "RELEASED"):
            return 403, {"detail": RELEASED_TEXT.format(handle)}
        self.hits[f"credentials {'write' if write else 'read'}"] += 1
        creds = self.s3.dataset_credentials(dataset.bucket, dataset.path, write=write)
        expiry = datetime.now(timezone.utc).replace(microsecond=0) + self.credential_lifetime
        return 200, {
            "status": {"success": True, "details": GENERATED},
            "credentials": {
                "aws_access_key_id": creds.access_key_id,
                "aws_secret_access_key": creds.secret_access_key,
                "aws_session_token": creds.session_token,
                "expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),  # as pydantic serialises a UTC datetime
            },
            "console_session_url": None,
        }


def demo_world(s3: LocalS3Server, bucket: str = "rrap-storage-bucket", **options: Any) -> ProvenaStandIn:
    """The stand-in the demo and the tests use: two users and datasets in every state that matters.

    - ``alice``: realm roles read and write; ``bob``: read only.
    - ``10378.1/1234567``: alice admin, bob dataset-data-read.
    - ``10378.1/2000001``: locked; ``10378.1/2000002``: released; ``10378.1/2000003``: alice read-only.
    - ``10378.1/1000001`` to ``1000003``: the organisation and people the records name (not datasets).
    """
    stand_in = ProvenaStandIn(
        s3,
        users={
            "alice": ["entity-registry-read", "entity-registry-write"],
            "bob": ["entity-registry-read"],
        },
        **options,
    )
    owner = {"alice": ["admin"], "bob": ["dataset-data-read"]}
    for handle, name, roles, locked, release in (
        ("10378.1/1234567", "Reef temperature loggers (sample)", owner, False, "NOT_RELEASED"),
        ("10378.1/2000001", "Locked survey", owner, True, "NOT_RELEASED"),
        ("10378.1/2000002", "Released model run", owner, False, "RELEASED"),
        ("10378.1/2000003", "Someone else's data", {"alice": ["dataset-data-read"]}, False, "NOT_RELEASED"),
    ):
        path = "datasets/" + handle.replace(".", "-").replace("/", "-") + "/"
        stand_in.add_dataset(handle, Dataset(name, bucket, path, dict(roles), locked, release))
    return stand_in
