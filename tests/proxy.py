"""A real TCP proxy in front of the test server that watches, holds, slows and breaks HTTP traffic.

Each client connection gets its own connection to the server; the proxy reads each request, passes
it on, and passes the answer back as it arrives (bodies framed by Content-Length, chunks or the end
of the connection).

Watch: ``requests`` records each request line (``"PUT /bucket/key?partNumber=2 HTTP/1.1"``, with its
``headers``); ``from_client`` and ``to_client`` count the bytes received from clients and delivered
to them; ``buffered_from_clients()`` what sits in socket buffers on the way to the proxy.

Hold: ``pause_after(n)`` lets ``n`` bytes through (both directions together) and then holds every
connection until ``release()``: a test can act at an exact moment mid-transfer, without sleeps.

Slow: ``throttle(rate)`` caps the traffic of all connections together at ``rate`` bytes a second,
like a slow link.

Break: ``plan(fault, when)`` or ``chaos(rate, seed=...)`` answers requests with a fault instead: a
connection reset mid-body, a 500 or 503 SlowDown, silence until the proxy closes, a truncated or
corrupted body, an ExpiredToken answer, or a refused connection (the server gone); ``injected``
lists them. ``rewrite`` changes answers' bodies, as a hostile server would.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SMALL_BUFFER = 64 * 1024  # socket buffers of the proxy's own sockets: little hides between the ends

Fault = str  # "reset", "500", "503", "stall", "truncate", "corrupt", "expired", "down", "nosuchupload"
FAULTS: tuple[Fault, ...] = ("reset", "500", "503", "stall", "truncate", "corrupt", "expired", "down")
ERRORS = {
    "500": ("500 Internal Server Error", "InternalError", "We encountered an internal error. Try again."),
    "503": ("503 Service Unavailable", "SlowDown", "Please reduce your request rate."),
    "expired": ("400 Bad Request", "ExpiredToken", "The provided token has expired."),
    # rclone's answer to ListMultipartUploads while no upload is open (not in FAULTS: no chaos kind)
    "nosuchupload": ("404 Not Found", "NoSuchUpload", "The specified multipart upload does not exist."),
}
Framing = int | Literal["chunked", "close"]  # a body's length, chunks, or everything until the end


class Request(str):
    """A request line as the client sent it, with its ``headers`` (names in lower case)."""

    headers: dict[str, str]

    def __new__(cls, line: str, headers: dict[str, str]) -> Request:
        request = super().__new__(cls, line)
        request.headers = headers
        return request


class Proxy:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # watch
        self.requests: list[Request] = []
        self.from_client = 0
        self.to_client = 0
        # hold
        self._open = threading.Event()
        self._open.set()
        self._limit: int | None = None
        self._passed = 0
        self.reached = threading.Event()  # set when the limit was reached and traffic is held
        # slow
        self._rate: float | None = None
        self._next_slot = 0.0  # when the throttled link is free again
        # break
        self.rewrite: Callable[[Request, bytes], bytes] | None = None  # (request, body) -> body
        self.injected: list[tuple[Request, Fault]] = []
        self._planned: list[tuple[Callable[[Request], bool], Fault]] = []
        self._chaos_rate = 0.0
        self._chaos_kinds: tuple[Fault, ...] = ()
        self._rng = random.Random(0)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, and let go of held and silent connections."""
        self._closed.set()
        self.release()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()

    # -- watch -----------------------------------------------------------------------------------

    def buffered_from_clients(self) -> int:
        """Bytes written by clients that the proxy has not read yet: the clients' send queues and
        the proxy's receive queues on its connections (Linux's ``/proc/net/tcp``)."""
        total = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, remote_port = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            send_queue, receive_queue = (int(q, 16) for q in fields[4].split(":"))
            if remote_port == self.port:
                total += send_queue
            elif local_port == self.port:
                total += receive_queue
        return total

    # -- hold ------------------------------------------------------------------------------------

    def pause_after(self, nbytes: int) -> None:
        with self._lock:
            self._limit = self._passed + nbytes
            self.reached.clear()

    def release(self) -> None:
        with self._lock:
            self._limit = None
        self._open.set()

    # -- slow ------------------------------------------------------------------------------------

    def throttle(self, rate: float | None) -> None:
        """Let at most ``rate`` bytes a second through (``None``: no limit)."""
        with self._lock:
            self._rate = rate
            self._next_slot = time.monotonic()

    # -- break -----------------------------------------------------------------------------------

    def plan(self, fault: Fault, when: Callable[[Request], bool] = lambda line: True, times: int = 1) -> None:
        """Inject ``fault`` into the next ``times`` requests whose line satisfies ``when``."""
        with self._lock:
            self._planned.extend([(when, fault)] * times)

    def chaos(self, rate: float, kinds: tuple[Fault, ...] = FAULTS, seed: int = 0) -> None:
        """From now on, each request suffers a random fault of ``kinds`` with probability ``rate``."""
        with self._lock:
            self._chaos_rate, self._chaos_kinds, self._rng = rate, kinds, random.Random(seed)

    def calm(self) -> None:
        """No more faults: neither planned nor random ones."""
        with self._lock:
            self._chaos_rate, self._planned = 0.0, []

    # -- what connections use --------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=_Connection(self, client).run, daemon=True).start()

    def _arrived(self, head: _Head) -> tuple[Request, Fault | None]:
        """Record a request, and choose the fault it suffers."""
        request = Request(head.start, {name.lower(): value for name, value in head.fields})
        with self._lock:
            self.requests.append(request)
            planned = next((i for i, (when, _) in enumerate(self._planned) if when(request)), None)
            fault: Fault | None = None
            if planned is not None:
                fault = self._planned.pop(planned)[1]
            elif self._chaos_rate and self._rng.random() < self._chaos_rate:
                fault = self._rng.choice(self._chaos_kinds)
            if fault is not None:
                self.injected.append((request, fault))
        return request, fault

    def _chunk(self) -> int:
        return 16384 if self._rate else 65536

    def _received(self, nbytes: int) -> None:
        with self._lock:
            self.from_client += nbytes

    def _delivered(self, nbytes: int) -> None:
        with self._lock:
            self.to_client += nbytes

    def _pass(self, nbytes: int) -> None:
        """Let ``nbytes`` through the gate, then through the link."""
        with self._lock:
            self._passed += nbytes
            if self._limit is not None and self._passed >= self._limit:
                self._open.clear()
                self.reached.set()
        self._open.wait()
        with self._lock:
            if not self._rate:
                return
            start = max(self._next_slot, time.monotonic())
            self._next_slot = start + nbytes / self._rate
        time.sleep(max(0.0, start - time.monotonic()))  # a model of a slow line, not a wait for anything


@dataclass
class _Head:
    """The start line and header fields of a request or an answer."""

    start: str
    fields: list[tuple[str, str]]

    @classmethod
    def parse(cls, raw: bytes) -> _Head:
        start, *lines = raw.decode("latin-1").rstrip("\r\n").split("\r\n")
        fields = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
        return cls(start, fields)

    def get(self, name: str) -> str:
        return next((value for field, value in self.fields if field.lower() == name), "")

    def replace(self, name: str, value: str | None) -> _Head:
        """The head without the field ``name``, and with ``value`` in its place if one is given."""
        kept = [(field, old) for field, old in self.fields if field.lower() != name.lower()]
        return _Head(self.start, kept + ([(name, value)] if value is not None else []))

    def framing(self, otherwise: Framing) -> Framing:
        if self.get("transfer-encoding").lower() == "chunked":
            return "chunked"
        length = self.get("content-length")
        return int(length) if length else otherwise

    def encode(self) -> bytes:
        lines = [self.start, *(f"{name}: {value}" for name, value in self.fields), "", ""]
        return "\r\n".join(lines).encode("latin-1")


class _Reader:
    """Buffered reads from one socket; ``count`` hears of every byte as it arrives."""

    def __init__(self, sock: socket.socket, size: Callable[[], int], count: Callable[[int], None]) -> None:
        self._sock = sock
        self._size = size
        self._count = count
        self._buffer = b""

    def _fill(self) -> bool:
        data = self._sock.recv(self._size())
        self._count(len(data))
        self._buffer += data
        return bool(data)

    def until(self, end: bytes) -> bytes | None:
        """Everything up to and including ``end``; None when the stream ends first."""
        while (found := self._buffer.find(end)) < 0:
            if not self._fill():
                return None
        taken, self._buffer = self._buffer[: found + len(end)], self._buffer[found + len(end) :]
        return taken

    def body(self, framing: Framing) -> Iterator[bytes]:
        """A body's bytes as they arrive, chunk framing included."""
        if framing != "chunked":
            yield from self._take(None if framing == "close" else framing)
            return
        while size := int((size_line := self._line()).split(b";")[0], 16):
            yield size_line
            yield from self._take(size + 2)  # the data and its CRLF
        yield size_line
        while (trailer := self._line()) != b"\r\n":  # trailer fields, then the blank line
            yield trailer
        yield trailer

    def _line(self) -> bytes:
        line = self.until(b"\r\n")
        if line is None:
            raise ConnectionError("the stream ended inside a chunked body")
        return line

    def _take(self, nbytes: int | None) -> Iterator[bytes]:
        """``nbytes`` bytes, or (``None``) everything until the stream ends."""
        while nbytes is None or nbytes > 0:
            if not self._buffer and not self._fill():
                if nbytes is None:
                    return
                raise ConnectionError("the stream ended inside a body")
            piece = self._buffer if nbytes is None else self._buffer[:nbytes]
            self._buffer = self._buffer[len(piece) :]
            nbytes = None if nbytes is None else nbytes - len(piece)
            yield piece


class _Connection:
    """One client's connection and, once a request goes on, its own connection to the server."""

    def __init__(self, proxy: Proxy, client: socket.socket) -> None:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        self._proxy = proxy
        self._client = client
        self._from_client = _Reader(client, proxy._chunk, proxy._received)
        self._server: socket.socket | None = None
        self._from_server: _Reader | None = None

    def run(self) -> None:
        try:
            while self._exchange():
                pass
        except OSError:  # a side went away
            pass
        finally:
            for sock in (self._client, self._server):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()

    def _exchange(self) -> bool:
        """One request and its answer; False when the connection is over."""
        raw = self._from_client.until(b"\r\n\r\n")
        if raw is None:
            return False
        head = _Head.parse(raw)
        request, fault = self._proxy._arrived(head)
        if fault == "down":
            return self._reset()
        if head.get("expect").lower() == "100-continue":  # answered here: a fault may answer instead
            self._to_client(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = head.replace("Expect", None)
        if fault in ERRORS:
            for _ in self._from_client.body(head.framing(0)):
                pass
            status, code, message = ERRORS[fault]
            body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            answer = _Head(f"HTTP/1.1 {status}", [("Content-Type", "application/xml")])
            self._to_client(answer.replace("Content-Length", str(len(body))).encode() + body)
            return True
        self._to_server(head.encode())
        for piece in self._from_client.body(head.framing(0)):
            self._to_server(piece)
        return self._answer(request, fault)

    def _answer(self, request: Request, fault: Fault | None) -> bool:
        """Pass the server's answer back, or break it as ``fault`` says."""
        assert self._from_server is not None
        raw = self._from_server.until(b"\r\n\r\n")
        if raw is None:
            return False
        head = _Head.parse(raw)
        status = int(head.start.split()[1])
        bodyless = request.startswith("HEAD ") or status in (204, 304)
        framing = head.framing(0 if bodyless else "close")
        closing = "close" in (head.get("connection").lower(), request.headers.get("connection", "").lower())
        keep = framing != "close" and not closing
        if fault is None and self._proxy.rewrite is None:
            self._to_client(raw)
            for piece in self._from_server.body(framing):
                self._to_client(piece)
            return keep
        body = b"".join(self._from_server.body(framing))
        if self._proxy.rewrite is not None and (rewritten := self._proxy.rewrite(request, body)) != body:
            head, body = head.replace("Content-Length", str(len(rewritten))), rewritten
        if fault == "stall":
            self._proxy._closed.wait()  # silent until the proxy closes: longer than any client waits
            return self._reset()
        if fault in ("reset", "truncate") and len(body) > 1:
            self._to_client(head.encode() + body[: len(body) // 2])
            return self._reset() if fault == "reset" else False  # truncate: an orderly close
        if fault == "corrupt" and body and request.startswith("GET ") and status in (200, 206):
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        self._to_client(head.encode() + body)
        return keep

    def _to_server(self, data: bytes) -> None:
        if self._server is None:
            self._server = socket.create_connection(self._proxy._target)
            self._from_server = _Reader(self._server, self._proxy._chunk, lambda nbytes: None)
        self._proxy._pass(len(data))
        self._server.sendall(data)

    def _to_client(self, data: bytes) -> None:
        self._proxy._pass(len(data))
        self._client.sendall(data)
        self._proxy._delivered(len(data))

    def _reset(self) -> bool:
        """Close the client's connection with RST, as a dropped connection does."""
        with contextlib.suppress(OSError):
            self._client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._client.close()
        return False
