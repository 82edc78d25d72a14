"""A real TCP proxy in front of the test server that can hold traffic at a chosen point.

``pause_after(n)`` lets ``n`` bytes through (both directions together) and then holds every
connection until ``release()``: a test can act at an exact moment mid-transfer, without sleeps.
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
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
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
