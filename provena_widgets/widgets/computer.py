"""ThisComputer: files between the browser's computer and the dataset, in one step (anywidget).

Up: the page offers the picked or dropped files (empty folders as paths ending in ``/``; dropped
on a folder row of an Explorer's dataset pane, ``into`` that folder), the kernel answers which to
send (the overwrite rule), and the page streams each in chunks (``{"type": "chunk", "id",
"offset"}`` + one binary buffer), at most :data:`WINDOW` chunks unacknowledged; the kernel writes
them straight into the dataset (:meth:`DatasetStore.receive`), taking an upload's messages in the
order the page numbered them (``"upload"``, ``"seq"``). Down: a file goes as a short-lived
presigned URL in a one-off message (never synced state: a saved notebook holds no secret), or,
where the browser cannot reach S3, as chunks through the kernel that the page acknowledges;
folders as one streamed .zip.
"""

from __future__ import annotations

import ipaddress
import itertools
import posixpath
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anywidget
import traitlets

from ..folder.incoming import IDLE_TIMEOUT
from ..store import DatasetStore
from ..transfer.plan import OVERWRITE_MODES
from ..transfer.progress import TransferProgress
from ..transfer.report import FileResult, TransferReport
from ..units import format_bytes

# Few large messages: each one costs the page, the server and the kernel time of its own (issue 14).
# But a websocket message may not exceed MESSAGE_LIMIT: Tornado's default websocket_max_message_size,
# which Jupyter Server keeps, and the cap of proxies in front of hubs; larger frames close the socket.
MESSAGE_LIMIT = 10 << 20  # bytes in one websocket message
HEADROOM = 64 << 10  # bytes for a message's framing and JSON parts (under 1 KB measured) on top of CHUNK
CHUNK = 8 << 20  # bytes of file data per message, both ways: CHUNK + HEADROOM <= MESSAGE_LIMIT
WINDOW = 4  # chunks a side may send before the other acknowledges
ORDERED = ("answer", "chunk", "finish", "done")  # an upload's messages after its offer, numbered by the page
PULL_TIMEOUT = 300.0  # seconds the page may take to choose where a download goes
_HERE = Path(__file__).parent / "computer"
_ids = itertools.count(1)


class ThisComputer(anywidget.AnyWidget):
    """ "Upload from this computer" (file and folder pickers, drag and drop) into the dataset folder
    ``target``, and "Download to this computer" of ``selected`` (dataset paths)."""

    _esm = _HERE / "computer.js"
    _css = _HERE / "computer.css"

    target = traitlets.Unicode("", help="the dataset folder uploads go into").tag(sync=True)
    selected = traitlets.List(traitlets.Unicode(), help="dataset paths to download").tag(sync=True)
    overwrite = traitlets.Enum(("ask", *OVERWRITE_MODES[:-1]), "ask", help="if a file exists").tag(sync=True)
    busy = traitlets.Bool(False, read_only=True).tag(sync=True)
    status = traitlets.Unicode("", read_only=True, help="the last transfer's summary").tag(sync=True)

    def __init__(
        self, store: DatasetStore, target: str = "", idle_timeout: float = IDLE_TIMEOUT, **kwargs: Any
    ) -> None:
        super().__init__(target=target, **kwargs)
        self.store = store
        self.idle_timeout = idle_timeout  # seconds without a chunk before an upload counts as abandoned
        self.report: TransferReport | None = None
        self.page_host = ""  # where the page is served from, as the page says
        self._upload: Any = None
        self._downloads: dict[str, _Download] = {}
        self._closing = threading.Lock()
        self._ordering = threading.Lock()
        self._key: str | None = None  # the running upload's, as the page named it in its offer
        self._next = 0  # the number of its message to take next
        self._early: dict[int, tuple[dict[str, Any], list[Any]]] = {}  # its messages that overtook
        self.add_class("provena-computer")
        self.on_msg(self._on_msg)

    # -- for Python --------------------------------------------------------------------------

    def send_to_computer(self, paths: Iterable[str] | str, via_kernel: bool | None = None) -> None:
        """Start downloads of ``paths`` in the browser: a file through a presigned URL, unless
        ``via_kernel`` (``None``: when the page cannot reach the S3 endpoint); folders, several
        items or ``via_kernel`` as chunks through the kernel."""
        items = self.store.outgoing(paths)
        whole = [paths] if isinstance(paths, str) else list(paths)
        single = len(items) == 1 and len(whole) == 1 and not whole[0].endswith("/")
        if via_kernel is None:
            via_kernel = not self._page_reaches(self.store.endpoint_url)
        if single and not via_kernel:
            url = self.store.presigned_url(self.store.location.relative(items[0].key))
            self.send({"type": "url", "name": items[0].name, "url": url})  # one-off: never state
            return
        name = items[0].name if single else _zip_name(whole, self.store.location.name)
        download = _Download(str(next(_ids)), name, items, as_zip=not single)
        self._downloads[download.id] = download
        size = items[0].size if single else None
        self.send({"type": "stream", "id": download.id, "name": name, "size": size})
        threading.Thread(target=self._stream, args=(download,), daemon=True).start()

    def cancel(self) -> None:
        """Stop the upload and downloads in progress."""
        upload = self._upload
        if upload is not None:
            upload.cancel()
        for download in list(self._downloads.values()):
            download.stop("cancelled")

    def _page_reaches(self, endpoint: str) -> bool:
        host = urlparse(endpoint).hostname or ""
        return not (_loopback(host) and self.page_host and not _loopback(self.page_host))

    # -- up ----------------------------------------------------------------------------------

    def _on_msg(self, _: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("type") in ORDERED and "seq" in content:
            self._in_order(content, buffers)
        else:
            self._take(content, buffers)

    def _in_order(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """An upload's messages in the order the page sent them, whatever thread brings each: ipykernel
        may hand one comm's messages to several (it routes a message whose content has an ``id`` to
        the subshell the kernel's last message with that ``id`` went out under), and a later chunk
        may run first. A message of an upload not running (a page gone) is dropped; one of a
        cancelled upload is taken as it comes (nothing more is stored: "done" ends it, whatever
        did not get through before it)."""
        with self._ordering:
            if content.get("upload") != self._key:
                return
            if self._upload is not None and self._upload.cancelled:
                self._early.clear()
                self._take(content, buffers)
                return
            self._early[int(content["seq"])] = (content, buffers)
            while self._next in self._early:
                self._take(*self._early.pop(self._next))
                self._next += 1

    def _take(self, content: dict[str, Any], buffers: list[Any]) -> None:
        kind = content.get("type")
        upload = self._upload
        if kind == "chunk" and upload is not None:
            upload.write(str(content["id"]), int(content["offset"]), buffers[0])
        elif kind == "finish" and upload is not None:
            upload.finish(str(content["id"]))
        elif kind == "offer":
            self._offer(content.get("files") or [], str(content.get("into") or ""), content.get("upload"))
        elif kind == "answer" and upload is not None:
            self._decisions(upload.answer(content.get("answers") or {}))
        elif kind == "done" and upload is not None:
            threading.Thread(target=self._close, args=(upload,), daemon=True).start()
        elif kind == "cancel":
            self.cancel()
        elif kind == "page":
            self.page_host = str(content.get("host", ""))
        elif kind == "download":
            self._download_selected()
        elif kind in ("pull", "ack", "abort") and str(content.get("id")) in self._downloads:
            self._downloads[str(content["id"])].heard(kind, int(content.get("received", 0)))

    def _offer(self, files: list[dict[str, Any]], into: str, key: str | None) -> None:
        """Files offered by the page, for the target folder (or its sub-folder ``into``); ``key``
        names the upload in its later messages (the offer is the first)."""
        if self._upload is not None:
            self.send({"type": "error", "message": "An upload is running: wait for it, or Cancel it."})
            return
        with self._ordering:
            self._key, self._next, self._early = key, 1, {}
        try:
            # The page stopped sending (closed, or its connection lost): this upload ends here, so
            # the next offer (from a reopened page) is taken and resumes from the kept parts.
            upload: Any = None
            upload = self._upload = self.store.receive(
                posixpath.join(self.target, into), overwrite=self.overwrite, progress=self._progress,
                on_ack=self._ack, on_file=self._file_ended, idle_timeout=self.idle_timeout,
                on_idle=lambda: self._close(upload),
            )  # fmt: skip
            self.set_trait("busy", True)
            self._decisions(upload.offer(files))
        except Exception as exc:
            self._upload = None
            self.set_trait("busy", False)
            self.set_trait("status", str(exc))
            self.send({"type": "error", "message": str(exc)})

    def _decisions(self, decisions: list[Any]) -> None:
        self.send({"type": "decisions", "decisions": [decision.to_message() for decision in decisions]})

    def _ack(self, file_id: str, received: int) -> None:
        self.send({"type": "ack", "id": file_id, "received": received})

    def _file_ended(self, result: FileResult) -> None:
        self.send({"type": "file", "path": result.source, "status": result.status, "reason": result.reason})

    def _progress(self, event: TransferProgress) -> None:
        # The total line has the rate and ETA (the page sends one file at a time); each file its bytes.
        files = [
            {
                "path": f.path,
                "fraction": f.fraction,
                "text": f"{format_bytes(f.bytes_done)} of {format_bytes(f.size)}",
            }
            for f in event.active
        ]
        self.send({
            "type": "progress", "text": event.describe(), "fraction": event.fraction, "done": event.done,
            "files": files,
        })  # fmt: skip

    def _close(self, upload: Any) -> None:
        with self._closing:  # "done" from the page and the idle watcher may both come
            if self._upload is not upload:
                return
            self._upload = None
        report: TransferReport = upload.close()
        self.report = report
        summary = _summary(report)
        self.set_trait("status", summary)
        self.set_trait("busy", False)
        self.send({"type": "report", "summary": summary, "ok": report.ok})

    # -- down --------------------------------------------------------------------------------

    def _download_selected(self) -> None:
        try:
            self.send_to_computer(self.selected)
        except Exception as exc:
            self.set_trait("status", str(exc))
            self.send({"type": "error", "message": str(exc)})

    def _stream(self, download: _Download) -> None:
        def emit(chunk: bytes) -> None:
            download.wait_for_room(download.sent)
            self.send({"type": "data", "id": download.id, "offset": download.sent}, buffers=[chunk])
            download.sent += len(chunk)

        try:
            download.wait_for_pull()
            size = self.store.send_out(download.items, emit, CHUNK, download.as_zip)
            download.wait_for_room(0)  # every chunk acknowledged
            self.send({"type": "end", "id": download.id, "size": size})
            self.set_trait("status", f"Downloaded {download.name} to this computer.")
        except Exception as exc:
            self.send({"type": "abort", "id": download.id, "message": str(exc)})
            self.set_trait("status", f"{download.name}: {exc}")
        finally:
            self._downloads.pop(download.id, None)


class _Download:
    """One download streamed through the kernel: waits for the page to pull, then for its acks."""

    def __init__(self, download_id: str, name: str, items: list[Any], as_zip: bool) -> None:
        self.id, self.name, self.items, self.as_zip = download_id, name, items, as_zip
        self.sent = self.acked = 0
        self.pulled = False
        self.stopped = ""
        self._changed = threading.Condition()

    def heard(self, kind: str, received: int) -> None:
        with self._changed:
            if kind == "pull":
                self.pulled = True
            elif kind == "ack":
                self.acked = max(self.acked, received)
            else:
                self.stopped = "stopped in the browser"
            self._changed.notify_all()

    def stop(self, why: str) -> None:
        with self._changed:
            self.stopped = why
            self._changed.notify_all()

    def wait_for_pull(self) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.pulled or self.stopped, PULL_TIMEOUT):
                raise TimeoutError("the browser did not start the download")
        self._check()

    def wait_for_room(self, sent: int) -> None:
        """Until fewer than ``WINDOW`` chunks are unacknowledged (``sent=0``: none at all)."""
        limit = (WINDOW - 1) * CHUNK if sent else 0
        with self._changed:
            self._changed.wait_for(lambda: self.stopped or self.sent - self.acked <= limit)
        self._check()

    def _check(self) -> None:
        if self.stopped:
            raise RuntimeError(self.stopped)


def _summary(report: TransferReport) -> str:
    """The report in one line, with the first failure's reason (what to change)."""
    failed = report.failed
    if not failed:
        return report.summary()
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{report.summary()}. {failed[0].destination}: {failed[0].reason}{more}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _zip_name(paths: list[str], dataset: str) -> str:
    names = [path.rstrip("/").rsplit("/", 1)[-1] for path in paths]
    return f"{names[0] if len(names) == 1 and names[0] else dataset}.zip"
