"""A fault-injecting HTTP proxy in front of the test S3 server.

It reads each request from the client, forwards it upstream, and then answers faithfully or with
a fault: a connection reset mid-body, a 500 or 503 SlowDown, a stall past the client's timeout, a
truncated or corrupted body, an ExpiredToken answer, a refused connection (the server gone), or a
listing rewritten by a hostile server. Faults are chosen by a plan or at random with a seed.
"""

from __future__ import annotations

import http.client
import random
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Fault = str  # "reset", "500", "503", "stall", "truncate", "corrupt", "expired", "down"
FAULTS: tuple[Fault, ...] = ("reset", "500", "503", "stall", "truncate", "corrupt", "expired", "down")
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "expired": (400, "ExpiredToken", "The provided token has expired."),
}


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def line(self) -> str:
        return f"{self.method} {self.target}"


@dataclass
class FaultProxy:
    upstream_port: int
    stall_seconds: float = 3.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    rate: float = 0.0
    kinds: tuple[Fault, ...] = ()
    rewrite: Callable[[str, bytes], bytes] | None = None  # (request line, body) -> body
    injected: list[tuple[str, Fault]] = field(default_factory=list)
    _planned: list[tuple[Callable[[str], bool], Fault]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: socketserver.ThreadingTCPServer | None = None

    def __post_init__(self) -> None:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def plan(self, fault: Fault, when: Callable[[str], bool] = lambda line: True, times: int = 1) -> None:
        """Inject ``fault`` into the next ``times`` requests whose line satisfies ``when``."""
        with self._lock:
            self._planned.extend([(when, fault)] * times)

    def chaos(self, rate: float, kinds: tuple[Fault, ...] = FAULTS, seed: int = 0) -> None:
        """From now on, each request suffers a random fault of ``kinds`` with probability ``rate``."""
        with self._lock:
            self.rate, self.kinds, self.rng = rate, kinds, random.Random(seed)

    def calm(self) -> None:
        with self._lock:
            self.rate, self._planned = 0.0, []

    def _choose(self, line: str) -> Fault | None:
        with self._lock:
            for index, (when, fault) in enumerate(self._planned):
                if when(line):
                    del self._planned[index]
                    return fault
            if self.rate and self.rng.random() < self.rate:
                return self.rng.choice(self.kinds)
        return None

    # -- one client connection -----------------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        try:
            while True:
                request = self._read_request(reader, client)
                if request is None:
                    return
                fault = self._choose(request.line)
                if fault:
                    self.injected.append((request.line, fault))
                if fault == "down":
                    _reset(client)
                    return
                if fault in _ERRORS:
                    status, code, message = _ERRORS[fault]
                    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                    self._send(client, status, [("Content-Type", "application/xml")], body)
                    continue
                status, headers, body = self._forward(request)
                if self.rewrite is not None:
                    body = self.rewrite(request.line, body)
                if fault == "stall":
                    time.sleep(self.stall_seconds)  # the fault itself: longer than the client waits
                    _reset(client)
                    return
                if fault in ("reset", "truncate") and len(body) > 1:
                    head = _head(status, headers, len(body))
                    client.sendall(head + body[: len(body) // 2])
                    if fault == "reset":
                        _reset(client)
                    else:
                        client.shutdown(socket.SHUT_RDWR)
                        client.close()
                    return
                if fault == "corrupt" and body and request.method == "GET" and status in (200, 206):
                    middle = len(body) // 2
                    body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
                self._send(client, status, headers, body)
        except OSError:
            return
        finally:
            reader.close()

    def _read_request(self, reader: object, client: socket.socket) -> _Request | None:
        readline = reader.readline  # type: ignore[attr-defined]
        line = readline(65536)
        if not line or not line.strip():
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = readline(65536)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        lowered = {name.lower(): value for name, value in headers}
        if lowered.get("expect", "").lower() == "100-continue":
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if lowered.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(readline(65536).strip().split(b";")[0], 16)
                if size == 0:
                    while readline(65536) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += reader.read(size)  # type: ignore[attr-defined]
                readline(65536)
            headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
            headers.append(("Content-Length", str(len(body))))
        else:
            body = reader.read(int(lowered.get("content-length", "0") or 0))  # type: ignore[attr-defined]
        headers = [(n, v) for n, v in headers if n.lower() != "expect"]
        return _Request(method, target, headers, body)

    def _forward(self, request: _Request) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            upstream.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers:
                upstream.putheader(name, value)
            upstream.endheaders(request.body or None)
            response = upstream.getresponse()
            body = response.read()
            dropped = ("transfer-encoding", "connection") + (
                () if request.method == "HEAD" else ("content-length",)
            )
            headers = [(n, v) for n, v in response.getheaders() if n.lower() not in dropped]
            return response.status, headers, body
        finally:
            upstream.close()

    @staticmethod
    def _send(client: socket.socket, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        client.sendall(_head(status, headers, len(body)) + body)


def _head(status: int, headers: list[tuple[str, str]], length: int) -> bytes:
    """Status line and headers; a HEAD answer keeps the Content-Length the server gave."""
    lines = [f"HTTP/1.1 {status} {http.client.responses.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if not any(name.lower() == "content-length" for name, _ in headers):
        lines.append(f"Content-Length: {length}")
    lines += ["", ""]
    return "\r\n".join(lines).encode("latin-1")


def _reset(client: socket.socket) -> None:
    """Close with RST, as a dropped connection does."""
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    except OSError:
        pass
