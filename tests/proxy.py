"""A real TCP proxy in front of the test server that can hold traffic at a chosen point.

``pause_after(n)`` lets ``n`` bytes through (both directions together) and then holds every
connection until ``release()``: a test can act at an exact moment mid-transfer, without sleeps.
``requests`` records each request line that went through (``"PUT /bucket/key?partNumber=2..."``).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class GateProxy:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._limit: int | None = None
        self._passed = 0
        self._lock = threading.Lock()
        self.reached = threading.Event()  # set when the limit was reached and traffic is held
        self.requests: list[str] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause_after(self, nbytes: int) -> None:
        with self._lock:
            self._limit = self._passed + nbytes
            self.reached.clear()

    def release(self) -> None:
        with self._lock:
            self._limit = None
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self.release()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            threading.Thread(
                target=self._pipe, args=(client, upstream, _RequestLog(self)), daemon=True
            ).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, log: _RequestLog | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if log is not None:
                    log.feed(data)
                self._gate(len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _gate(self, nbytes: int) -> None:
        with self._lock:
            self._passed += nbytes
            if self._limit is not None and self._passed >= self._limit:
                self._open.clear()
                self.reached.set()
        self._open.wait()


class _RequestLog:
    """Finds request lines in one client-to-server byte stream (HTTP/1.1, Content-Length bodies)."""

    def __init__(self, proxy: GateProxy) -> None:
        self._proxy = proxy
        self._buffer = b""
        self._body_left = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._body_left:
                taken = min(self._body_left, len(self._buffer))
                self._buffer = self._buffer[taken:]
                self._body_left -= taken
                if self._body_left:
                    return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].decode("latin-1").split("\r\n")
            self._buffer = self._buffer[end + 4 :]
            self._proxy.requests.append(head[0])
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    self._body_left = int(value.strip() or 0)
