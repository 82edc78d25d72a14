"""A TCP proxy that gives every client process its own fixed-rate link to one server.

Each accepted connection is traced to the process that opened it (Linux: the peer's port gives
its socket inode in ``/proc/net/tcp``, and the inode its process through ``/proc/<pid>/fd``), and
all connections of one process share that process's link: ``rate`` bytes a second towards the
server and, separately, ``rate`` back (a full-duplex line). Nothing is saved up while a link is
idle. The server side is not throttled. Without ``--rate`` it only counts.

    python -m bench.links TARGET_PORT [--rate-mib 10]

prints ``port N`` once it listens; when its standard input closes it prints the bytes, active
time and connections of each client process as one JSON line, and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
THROTTLED_CHUNK = 64 * 1024  # 6 ms of a 10 MiB/s link: the rate holds at a fine grain
FREE_CHUNK = 256 * 1024
BURST = 4 * THROTTLED_CHUNK  # at most this much is let through at once after an idle spell
IDLE_GAP = 0.1  # seconds with no byte on a line that count as the line standing idle
UNKNOWN = 0  # the "process" of connections whose owner could not be found


class Link:
    """One direction of one process's line: ``rate`` bytes a second, a token bucket of ``BURST``
    bytes (what a line's queue covers while a sender is between writes), chunks in turn."""

    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the line has sent everything it was given
        self.bytes = 0
        self.first: float | None = None  # when the first chunk arrived
        self.last = 0.0  # when the last chunk was through
        self.idle = 0.0  # seconds between the first chunk and the last in gaps of IDLE_GAP or more

    def send(self, nbytes: int) -> None:
        """Wait until ``nbytes`` more have crossed the line."""
        with self._lock:
            now = time.monotonic()
            done = now
            if self._rate:
                done = max(self._free_at, now - BURST / self._rate) + nbytes / self._rate
            if self.first is not None and now - self.last >= IDLE_GAP:
                self.idle += now - self.last
            self._free_at, self.bytes, self.last = done, self.bytes + nbytes, max(done, now)
            self.first = now if self.first is None else self.first
        if done > now:
            time.sleep(done - now)  # the line's own pace, not a wait for anything

    def summary(self) -> dict[str, float]:
        """Bytes, the rate over the active span, the span's ends (``time.monotonic()``: one clock
        for every process on the machine) and the idle time inside it."""
        first = self.first if self.first is not None else self.last
        rate = self.bytes / MiB / (self.last - first) if self.last > first else 0.0
        return {"bytes": self.bytes, "active_s": round(self.last - first, 3), "MiBps": round(rate, 2),
                "first": round(first, 3), "last": round(self.last, 3),
                "idle_s": round(self.idle, 3)}  # fmt: skip


class Owners:
    """Which process owns a client's end of a connection; the processes found so far are searched
    first, so the whole of ``/proc`` is read once per new process, not once per connection."""

    def __init__(self) -> None:
        self._known: list[int] = []
        self._lock = threading.Lock()

    def of(self, peer_port: int, own_port: int) -> int:
        inode = socket_inode(peer_port, own_port)
        if inode is None:
            return UNKNOWN
        with self._lock:
            known = list(self._known)
        pid = next((pid for pid in known if holds(pid, inode)), None)
        if pid is None:
            pid = next((pid for pid in all_pids() if pid not in known and holds(pid, inode)), UNKNOWN)
            if pid != UNKNOWN:
                with self._lock:
                    self._known.append(pid)
        return pid


def socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the loopback socket from ``local_port`` to ``remote_port`` (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        if (local, remote) == (local_port, remote_port):
            return int(fields[9])
    return None


def listener_pid(port: int) -> int:
    """The process listening on loopback ``port`` (a listening socket has no remote port)."""
    inode = socket_inode(port, 0)
    return next(pid for pid in all_pids() if inode is not None and holds(pid, inode))


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def holds(pid: int, inode: int) -> bool:
    """Whether process ``pid`` has the socket ``inode`` open (False where we may not look)."""
    target = f"socket:[{inode}]"
    try:
        with os.scandir(f"/proc/{pid}/fd") as fds:
            return any(_link(entry.path) == target for entry in fds)
    except OSError:
        return False


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


class LinkProxy:
    """Listens on 127.0.0.1; every connection goes on to ``target_port`` through its process's links."""

    def __init__(self, target_port: int, rate: float | None) -> None:
        self._target = ("127.0.0.1", target_port)
        self._rate = rate
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._owners = Owners()
        self._lock = threading.Lock()
        self._links: dict[int, tuple[Link, Link]] = {}  # pid -> (to the server, back)
        self._connections: dict[int, int] = {}
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, (_, peer_port) = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, peer_port), daemon=True).start()

    def _links_of(self, pid: int) -> tuple[Link, Link]:
        with self._lock:
            self._connections[pid] = self._connections.get(pid, 0) + 1
            return self._links.setdefault(pid, (Link(self._rate), Link(self._rate)))

    def _serve(self, client: socket.socket, peer_port: int) -> None:
        up, down = self._links_of(self._owners.of(peer_port, self.port))
        try:
            server = socket.create_connection(self._target)
        except OSError:
            client.close()
            return
        back = threading.Thread(target=self._pump, args=(server, client, down), daemon=True)
        back.start()
        self._pump(client, server, up)
        back.join()
        for sock in (client, server):
            sock.close()

    def _pump(self, source: socket.socket, sink: socket.socket, link: Link) -> None:
        """Pass one direction's bytes through ``link`` until it ends, then end it on the other side."""
        buffer = bytearray(THROTTLED_CHUNK if self._rate else FREE_CHUNK)
        view = memoryview(buffer)
        try:
            while received := source.recv_into(buffer):
                link.send(received)
                sink.sendall(view[:received])
        except OSError:  # a side went away: end both
            with contextlib.suppress(OSError):
                source.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def summary(self) -> dict[str, Any]:
        """Per client process: bytes, active time and rate each way, and its connections."""
        with self._lock:
            return {
                "rate_MiBps": self._rate / MiB if self._rate else None,
                "cpu_s": round(time.process_time(), 2),
                "processes": {
                    str(pid): {
                        "to_server": up.summary(),
                        "to_client": down.summary(),
                        "connections": self._connections[pid],
                    }
                    for pid, (up, down) in self._links.items()
                },
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target_port", type=int)
    parser.add_argument("--rate-mib", type=float, help="MiB/s per process and direction (default: none)")
    args = parser.parse_args()
    proxy = LinkProxy(args.target_port, args.rate_mib * MiB if args.rate_mib else None)
    print(f"port {proxy.port}", flush=True)
    sys.stdin.read()
    print(json.dumps(proxy.summary()), flush=True)


if __name__ == "__main__":
    main()
