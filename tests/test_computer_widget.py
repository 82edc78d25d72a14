"""ThisComputer's kernel side, driven by the messages its page sends (no browser), against the real
local S3 server: a page that goes quiet, drops onto a folder row, and failures shown in one line."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any

from conftest import MiB, open_uploads, remote_keys

from provena_widgets import Credentials, DatasetLocation, DatasetStore, Explorer
from provena_widgets.folder.incoming import PROTECTED
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.widgets.computer import ThisComputer

ORDERED = ("offer", "answer", "chunk", "finish", "done")  # an upload's messages, stamped by the page
_uploads = itertools.count()


class Page:
    """The page's side of one ThisComputer: what it receives, and what it sends."""

    def __init__(self, computer: ThisComputer) -> None:
        self.computer = computer
        self.received: list[dict[str, Any]] = []
        self.reported = threading.Event()
        self.key, self.seq = "", 0
        computer.comm.send = self._receive

    def _receive(self, data: Any = None, buffers: Any = None, **_: Any) -> None:
        content = (data or {}).get("content", {})
        self.received.append(content)
        if content.get("type") == "report":
            self.reported.set()

    def says(self, buffers: list[bytes] | None = None, **content: Any) -> None:
        self.delivers(self.message(**content) if content["type"] in ORDERED else content, buffers)

    def message(self, **content: Any) -> dict[str, Any]:
        """An upload's message as the page makes it: with its upload's key and its place in order."""
        if content["type"] == "offer":
            self.key, self.seq = f"upload-{next(_uploads)}", 0
        self.seq += 1
        return {**content, "upload": self.key, "seq": self.seq - 1}

    def delivers(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """A message reaches the kernel (in tests: when, and on the thread, the test says)."""
        self.computer._handle_custom_msg(content, buffers or [])

    def last(self, kind: str) -> dict[str, Any]:
        return [message for message in self.received if message.get("type") == kind][-1]

    def offer(self, files: list[dict[str, Any]], into: str = "") -> dict[str, dict[str, Any]]:
        self.says(type="offer", files=files, into=into)
        return {decision["id"]: decision for decision in self.last("decisions")["decisions"]}

    def send(self, file_id: str, data: bytes, offset: int = 0, chunk: int = MiB) -> None:
        for at in range(offset, len(data), chunk):
            self.says([data[at : at + chunk]], type="chunk", id=file_id, offset=at)

    def report(self) -> str:
        self.reported.clear()
        self.says(type="done")
        assert self.reported.wait(30)
        return str(self.last("report")["summary"])


def test_a_page_gone_quiet_ends_its_upload_and_a_reopened_page_resumes_it(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    computer = ThisComputer(store, target="in/", idle_timeout=1.0)
    page = Page(computer)
    data = os.urandom(17 * MiB)
    item = {"id": "0", "path": "f.bin", "size": len(data), "mtime": 1_600_000_000.0}
    assert page.offer([item])["0"]["offset"] == 0
    page.send("0", data[: 11 * MiB])  # two 5 MiB parts and a bit... then the tab closes
    assert page.reported.wait(30)  # the kernel ended the upload itself
    assert not computer.busy
    assert "no data from the browser for 1 s (tab closed or connection lost)" in page.last("file")["reason"]
    assert "cancelled (1 not done)" in computer.status
    assert remote_keys(admin, location) == {}  # no partial object...
    assert open_uploads(admin, location) == [location.prefix + "in/f.bin"]  # ...its parts kept

    reopened = Page(computer)
    decision = reopened.offer([item])["0"]
    assert decision["action"] == "send" and decision["offset"] == 10 * MiB  # only the rest is sent
    reopened.send("0", data, offset=decision["offset"])
    reopened.says(type="finish", id="0")
    assert reopened.report().startswith("upload: 1 transferred")
    got = admin.get_object(Bucket=location.bucket, Key=location.prefix + "in/f.bin")["Body"].read()
    assert got == data and open_uploads(admin, location) == []


def test_a_reopened_pages_chunks_are_taken_in_its_order_and_a_gone_pages_late_chunk_is_not(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    """ipykernel routes a comm message whose content has a string ``id`` to the subshell (a thread)
    that the kernel's last message with that ``id`` went out under: the gone page's last
    acknowledgement of its file "0" sent the reopened page's first chunk of its own file "0" to the
    gone page's thread, and under load the next chunk, on the reopened page's thread, came first ("a
    chunk at byte 33554432 came where byte 25165824 was due", the browser test under CI load)."""
    computer = ThisComputer(store, target="in/", idle_timeout=1.0)
    page = Page(computer)
    data = os.urandom(17 * MiB)
    item = {"id": "0", "path": "f.bin", "size": len(data), "mtime": 1_600_000_000.0}
    page.offer([item])
    page.send("0", data[: 11 * MiB])
    assert page.reported.wait(30)  # gone quiet: two 5 MiB parts kept
    late = page.message(type="chunk", id="0", offset=11 * MiB)  # the gone page's, still on its way

    reopened = Page(computer)
    assert reopened.offer([item])["0"]["offset"] == 10 * MiB
    first, second = (reopened.message(type="chunk", id="0", offset=at) for at in (10 * MiB, 11 * MiB))
    reopened.delivers(second, [data[11 * MiB : 12 * MiB]])  # its thread ran first
    page.delivers(late, [data[11 * MiB : 12 * MiB]])  # not the upload that runs now
    reopened.delivers(first, [data[10 * MiB : 11 * MiB]])
    reopened.send("0", data, offset=12 * MiB)
    reopened.says(type="finish", id="0")
    assert reopened.report().startswith("upload: 1 transferred")
    got = admin.get_object(Bucket=location.bucket, Key=location.prefix + "in/f.bin")["Body"].read()
    assert got == data and open_uploads(admin, location) == []


def test_a_drop_on_a_folder_row_uploads_into_that_folder(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    page = Page(ThisComputer(store, target="data/"))
    files = [{"id": "0", "path": "a.csv", "size": 2}, {"id": "1", "path": "e/", "size": 0}]
    decisions = page.offer(files, "sub/")  # the row's id: a folder's name and "/"
    assert [d["path"] for d in decisions.values()] == ["data/sub/a.csv", "data/sub/e/"]
    page.send("0", b"hi")
    page.says(type="finish", id="0")
    page.says(type="finish", id="1")  # an empty folder: "finish" alone
    assert page.report().startswith("upload: 2 transferred")
    assert remote_keys(admin, location) == {"data/sub/a.csv": 2, "data/sub/e/": 0}

    page.says(type="offer", files=[{"id": "0", "path": "b.csv", "size": 2}], into="../../")
    assert page.last("error")["message"] == "'data/../../' leads outside the dataset folder."
    assert not page.computer.busy
    assert remote_keys(admin, location) == {"data/sub/a.csv": 2, "data/sub/e/": 0}


def test_a_failed_file_says_why_in_the_status_line(store: DatasetStore, admin: Any, location: Any) -> None:
    computer = ThisComputer(store)
    page = Page(computer)
    decisions = page.offer([{"id": "0", "path": "metadata.json", "size": 2}])
    assert decisions["0"]["action"] == "fail"
    summary = page.report()
    assert summary.endswith(f". metadata.json: {PROTECTED}")
    assert computer.status == summary and remote_keys(admin, location) == {}


def test_the_explorers_dataset_pane_shows_an_upload_from_this_computer_when_it_ends(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> None:
    explorer = Explorer(credentials, location, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    explorer.wait()
    assert explorer.computer is not None and explorer.browser.entries is not None
    assert "arrived.csv" not in [entry.name for entry in explorer.browser.entries]
    page = Page(explorer.computer)
    data = b"site,temp\nHeron,26.1\n"
    item = {"id": "0", "path": "arrived.csv", "size": len(data), "mtime": 1_600_000_000.0}
    assert page.offer([item])["0"]["action"] == "send"
    page.send("0", data)
    page.says(type="finish", id="0")
    assert page.report().startswith("upload: 1 transferred")
    explorer.browser.wait()
    assert "arrived.csv" in [entry.name for entry in explorer.browser.entries]
