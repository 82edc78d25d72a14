"""A real TCP proxy in front of the test server that can hold traffic at a chosen point.

``pause_after(n)`` lets ``n`` bytes through (both directions together) and then holds every
connection until ``release()``: a test can act at an exact moment mid-transfer, without sleeps.
``throttle(rate)`` caps the traffic of all connections together at ``rate`` bytes a second, like a
slow link. ``requests`` records each request line that went through (``"PUT /bucket/key?partNumber=2..."``);
``from_client`` and ``to_client`` count the bytes the proxy received from the client and delivered
to it; ``buffered_from_clients()`` what sits in socket buffers on the way to the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

SMALL_BUFFER = 64 * 1024  # socket buffers of the proxy's own sockets: little hides between the ends


class GateProxy:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self.port: int = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._limit: int | None = None
        self._passed = 0
        self._lock = threading.Lock()
        self.reached = threading.Event()  # set when the limit was reached and traffic is held
        self.requests: list[str] = []
        self.from_client = 0
        self.to_client = 0
        self._rate: float | None = None
        self._next_slot = 0.0  # when the throttled link is free again
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pause_after(self, nbytes: int) -> None:
        with self._lock:
            self._limit = self._passed + nbytes
            self.reached.clear()

    def throttle(self, rate: float | None) -> None:
        """Let at most ``rate`` bytes a second through (``None``: no limit)."""
        with self._lock:
            self._rate = rate
            self._next_slot = time.monotonic()

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
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            upstream = socket.create_connection(self._target)
            threading.Thread(
                target=self._pipe, args=(client, upstream, _RequestLog(self)), daemon=True
            ).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, log: _RequestLog | None) -> None:
        """Copy one direction: ``log`` is given for client-to-server traffic."""
        try:
            while True:
                data = src.recv(16384 if self._rate else 65536)
                if not data:
                    break
                if log is not None:
                    log.feed(data)
                    with self._lock:
                        self.from_client += len(data)
                self._gate(len(data))
                self._wait_for_link(len(data))
                dst.sendall(data)
                if log is None:
                    with self._lock:
                        self.to_client += len(data)
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

    def _wait_for_link(self, nbytes: int) -> None:
        """Hold ``nbytes`` until the throttled link has room for them (a model of a slow line)."""
        with self._lock:
            if not self._rate:
                return
            start = max(self._next_slot, time.monotonic())
            self._next_slot = start + nbytes / self._rate
        time.sleep(max(0.0, start - time.monotonic()))


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
