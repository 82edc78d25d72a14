"""Uploads from the browser's computer at their limits, against real servers: the websocket's message
cap (a real Tornado server, as Jupyter Server runs), S3's 10,000 parts (a 250 GB offer on moto), and a
multi-GB stream through the message protocol with the kernel's memory traced."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

from awscrt.checksums import crc32c
from conftest import MiB, remote_keys
from jupyter_server.services.kernels.connection.base import serialize_binary_message, serialize_msg_to_ws_v1
from test_integrity import b64_crc32c
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application
from tornado.websocket import WebSocketClosedError, WebSocketHandler, websocket_connect

from provena_widgets import Credentials, DatasetLocation, DatasetStore, TransferSettings
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.transfer.settings import MAX_PARTS
from provena_widgets.widgets.computer import CHUNK, HEADROOM, MESSAGE_LIMIT, WINDOW

GiB = 1024 * MiB
JS = Path(__file__).resolve().parent.parent / "provena_widgets/widgets/computer/computer.js"


def chunk_message(buffer: bytes) -> dict[str, Any]:
    """A chunk as the page sends it: a comm message of JupyterLab's, with one binary buffer."""
    header = {"msg_id": "c8b9e7a0-2d6f-4f55-9a1e-6d1f0f3b7c21_12345_678", "msg_type": "comm_msg",
              "username": "someone-with-a-long-name", "session": "5f1c0e7e-8b1a-4f0b-a5a5-0c5d2b7b9e61",
              "date": "2026-12-01T07:00:00.000000Z", "version": "5.3"}  # fmt: skip
    chunk = {"type": "chunk", "id": "9999", "offset": 5 << 40}
    content = {"comm_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "data": {"method": "custom", "content": chunk}}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content,
            "buffers": [buffer], "channel": "shell"}  # fmt: skip


def test_a_chunk_and_its_framing_stay_under_the_websocket_message_cap() -> None:
    """Raising CHUNK (either side) past MESSAGE_LIMIT - HEADROOM fails here, before a real upload
    would: Tornado closes a websocket whose message is over its cap, and the upload stops dead."""
    constants = dict(re.findall(r"^const (CHUNK|WINDOW) = ([\d <]+);", JS.read_text(), re.M))
    base, shift = map(int, constants["CHUNK"].split("<<"))
    assert base << shift == CHUNK and int(constants["WINDOW"]) == WINDOW, "computer.js must match computer.py"
    assert CHUNK + HEADROOM <= MESSAGE_LIMIT
    buffer = bytes(CHUNK)
    # JupyterLab's websocket protocol (v1.kernel.websocket.jupyter.org), and the one before it
    message = chunk_message(buffer)
    parts = [
        json.dumps(message[name]).encode() for name in ("header", "parent_header", "metadata", "content")
    ]
    v1 = serialize_msg_to_ws_v1([*parts, buffer], "shell")  # type: ignore[no-untyped-call]
    legacy = serialize_binary_message(chunk_message(buffer))  # type: ignore[no-untyped-call]
    framing = max(len(v1), len(legacy)) - CHUNK
    print(f"framing of a chunk message: {framing} bytes (headroom {HEADROOM})")
    assert 0 < framing <= HEADROOM

    accepted = asyncio.run(sizes_taken([len(legacy), CHUNK + HEADROOM, MESSAGE_LIMIT + 1]))
    assert accepted == [len(legacy), CHUNK + HEADROOM, None]  # the last closed the socket


class Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(str(len(message)))


async def sizes_taken(sizes: list[int]) -> list[int | None]:
    """Send messages of ``sizes`` to a Tornado websocket server with its default settings."""
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([("/ws", Echo)]))
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    taken: list[int | None] = []
    try:
        for size in sizes:
            connection = await websocket_connect(
                f"ws://127.0.0.1:{port}/ws", max_message_size=MESSAGE_LIMIT * 2
            )
            try:
                await connection.write_message(bytes(size), binary=True)
                reply = await connection.read_message()
            except WebSocketClosedError:  # closed by the server while the message went
                reply = None
            taken.append(None if reply is None else int(reply))
            connection.close()
    finally:
        server.stop()
    return taken


def test_part_size_grows_so_no_file_needs_more_than_10000_parts() -> None:
    settings = TransferSettings()
    for size in (8 * MiB, 100 * GiB, 200 * 10**9, 1024 * GiB, 5 * 1024 * GiB):
        part = settings.part_size_for(size)
        assert -(-size // part) <= MAX_PARTS and part <= 5 * GiB, (size, part)
    assert settings.part_size_for(200 * 10**9) == 32 * MiB  # 5,961 parts


def test_a_250_gb_offer_gets_40_mib_parts_and_acks_keep_pace_before_a_part_fills(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    """5 MiB parts would need 47,684: the part grows to 40 MiB, past the upload's first memory
    budget (15 MiB); the budget grows with it, else no chunk were acknowledged before a whole part
    came, and a browser (32 MiB unacknowledged at most) would wait forever."""
    size = 250 * 10**9
    acks: list[int] = []
    upload = store.receive(progress=None, on_ack=lambda _, received: acks.append(received))
    (decision,) = upload.offer([{"id": "huge", "path": "huge.bin", "size": size}])
    assert decision.action == "send" and decision.offset == 0
    block = bytes(range(256)) * 4096  # 1 MiB
    for n in range(40):  # the first part, as a browser's window allows
        upload.write("huge", n * MiB, block)
        assert acks and acks[-1] == (n + 1) * MiB, f"chunk {n + 1} not acknowledged: {acks[-1:]}"
    assert upload.budget.limit >= 2 * 40 * MiB
    upload.cancel()  # waits for the part in flight, and keeps it for a retry
    assert upload.close().cancelled
    (listed,) = admin.list_multipart_uploads(Bucket=location.bucket, Prefix=location.prefix)["Uploads"]
    parts = admin.list_parts(Bucket=location.bucket, Key=listed["Key"], UploadId=listed["UploadId"])["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 40 * MiB)]
    assert remote_keys(admin, location) == {}  # no partial object; the part is kept for a retry


def test_a_file_over_s3s_5_tib_is_refused_before_any_byte(store: DatasetStore) -> None:
    upload = store.receive(progress=None)
    (decision,) = upload.offer([{"id": "x", "path": "x.bin", "size": 6 * 10**12}])
    assert decision.action == "fail"
    assert decision.reason == "6.0 TB is more than S3 stores in one object (5.5 TB)"
    assert upload.close().failed[0].reason == decision.reason


class Generated(io.RawIOBase):
    """``size`` bytes made as they are read (no file, no memory): each MiB differs by its number."""

    def __init__(self, size: int) -> None:
        self.size, self.at = size, 0
        self.block = bytes(range(256)) * 4096

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.at = offset
        return offset

    def read(self, n: int = -1) -> bytearray:
        out = bytearray()
        while len(out) < n and self.at < self.size:
            mib, inside = divmod(self.at, MiB)
            piece = (mib.to_bytes(8, "big") + self.block[8:])[inside : inside + n - len(out)]
            piece = piece[: self.size - self.at]
            out += piece
            self.at += len(piece)
        return out  # a bytearray, as the page's ArrayBuffer: no copy


def streamed(store: DatasetStore, name: str, size: int) -> tuple[int, Any]:
    """Stream ``size`` generated bytes as the page does; Python's peak allocation while it runs."""
    upload = store.receive(progress=None)
    upload.offer([{"id": name, "path": name, "size": size}])
    started = time.monotonic()
    tracemalloc.start()
    try:
        upload.send(name, Generated(size), chunk_size=CHUNK, window=WINDOW)  # type: ignore[arg-type]
        report = upload.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.monotonic() - started
    assert report.ok, report.files
    print(f"{size / GiB:.2f} GiB in {seconds:.1f} s ({size / seconds / 1e6:.0f} MB/s, tracemalloc on): "
          f"peak {peak / MiB:.1f} MiB, budget {upload.budget.limit / MiB:.0f} MiB, "
          f"held at most {upload.budget.peak / MiB:.0f} MiB")  # fmt: skip
    assert upload.budget.peak <= upload.budget.limit + WINDOW * CHUNK  # buffers: the budget, and a window
    return peak, upload.budget


def test_a_multi_gb_stream_keeps_kernel_memory_bounded(
    s3_server: LocalS3Server, credentials: Credentials, admin: Any, location: DatasetLocation
) -> None:
    """The browser's protocol (8 MiB chunks, 4 unacknowledged) with the default 8 MiB parts: Python's
    allocations peak no higher for 1.5 GiB than for 128 MiB (the budget, a window of chunks beyond
    it, the sender's chunk); every part's CRC32C checks out on the server."""
    store = DatasetStore(credentials, location, endpoint_url=s3_server.endpoint_url)
    small, _ = streamed(store, "small.bin", 128 * MiB)
    size = 3 * GiB // 2
    big, budget = streamed(store, "big.bin", size)
    part = store.settings.part_size_for(size)
    assert big < small + part, f"peak {big / MiB:.1f} MiB for 1.5 GiB, {small / MiB:.1f} MiB for 128 MiB"
    assert big < budget.limit + WINDOW * CHUNK + 4 * CHUNK
    assert remote_keys(admin, location) == {"small.bin": 128 * MiB, "big.bin": size}
    source, crcs = Generated(size), b""
    for _ in range(-(-size // part)):
        crcs += crc32c(source.read(part)).to_bytes(4, "big")
    head = admin.head_object(Bucket=location.bucket, Key=location.prefix + "big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"].split("-")[0] == b64_crc32c(crcs)  # the server checked every part
