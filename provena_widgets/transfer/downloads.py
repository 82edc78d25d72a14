"""How a file comes down: whole (through the CRT, or botocore) into a hidden temporary name, or in
ranged parts written in place into ``<name>.part``; checked, then renamed to its final name.

What a download is checked against, best first: the object's own flexible checksum (CRC32C,
CRC32 or CRC64NVME, over the whole object or composite over its parts), computed in native code
as the bytes arrive; else an ETag that is an MD5; else its size alone."""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import IncompleteTransfer, IntegrityError, ProvenaWidgetsError
from ..s3objects import stored_mtime
from .assembly import (
    Assembly,
    check_part_file,
    close_part_file,
    hash_finished_prefix,
    open_part_file,
    temp_path_for,
)
from .checksums import ObjectChecksum, etag_is_not_md5, md5_in_etag, md5_of
from .crt import CrtCall
from .metering import Meter
from .plan import FileTask, PartSpan
from .scheduler import Execution, FileRun, StepsBase
from .settings import MiB, TransferSettings

log = logging.getLogger(__name__)


def _headers_of(response: dict[str, Any]) -> dict[str, str]:
    """A botocore answer's raw headers, with lower-case names as the CRT gives them."""
    return {k.lower(): v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items()}


def _mtime_from_headers(headers: dict[str, str]) -> float | None:
    """The file's own time (``x-amz-meta-mtime``), else the object's Last-Modified."""
    own = stored_mtime(
        {k[len("x-amz-meta-") :]: v for k, v in headers.items() if k.startswith("x-amz-meta-")}
    )
    if own is not None:
        return own
    try:
        return email.utils.parsedate_to_datetime(headers["last-modified"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def assembly_for(client: Any, bucket: str, settings: TransferSettings, task: FileTask) -> Assembly:
    """Part size for a ranged download, and what the result can be checked against.

    A flexible checksum is checked from per-part CRCs: any ranges for a full-object one,
    the upload's own parts for a composite one. Failing that, parts aligned with the
    upload's let a multipart ETag (MD5 of part MD5s) be checked; a single-part object's ETag
    is the MD5 of the whole."""
    ours = Assembly(settings.part_size_for(task.size))
    if not settings.verify:
        return ours
    try:
        first = client.head_object(Bucket=bucket, Key=task.key, PartNumber=1)
    except Exception as exc:  # the download itself will say what is wrong, if anything
        log.debug("no layout for %s: %s", task.path, exc)
        return ours
    count = int(first.get("PartsCount") or 0)
    part = int(first.get("ContentLength") or 0)
    aligned = count > 1 and part >= MiB and -(-task.size // part) == count
    checksum = _object_checksum(client, bucket, task, count)
    if checksum is not None and not checksum.parts:
        return Assembly(ours.part_size, checksum)
    if checksum is not None and aligned and checksum.parts == count:
        return Assembly(part, checksum)
    if aligned:
        return Assembly(part, etag_of_parts=True)
    if not count and md5_in_etag(task.etag) and not etag_is_not_md5(_headers_of(first)):
        return Assembly(ours.part_size, etag_of_whole=True)
    return ours


def _object_checksum(client: Any, bucket: str, task: FileTask, parts_count: int) -> ObjectChecksum | None:
    """The object's flexible checksum, if the server keeps one. A HEAD says which; where it
    leaves a multipart object's kind unsaid (full-object or composite), GetObjectAttributes
    tells (not every S3-compatible server has it: then the ETag is checked instead)."""
    try:
        head = client.head_object(Bucket=bucket, Key=task.key, ChecksumMode="ENABLED")
        if not any(key.startswith("Checksum") for key in head):
            return None
        if parts_count > 1 and "ChecksumType" not in head:
            head = client.get_object_attributes(
                Bucket=bucket, Key=task.key, ObjectAttributes=["Checksum"]
            ).get("Checksum", {})
    except Exception as exc:
        log.debug("no checksum for %s: %s", task.path, exc)
        return None
    return ObjectChecksum.of(head, parts_count)


def object_mtime(client: Any, bucket: str, key: str) -> float | None:
    """The time a download gives the file: the object's own (``x-amz-meta-mtime``), else Last-Modified."""
    return _mtime_from_headers(_headers_of(client.head_object(Bucket=bucket, Key=key)))


class DownloadSteps(StepsBase):
    """The download half of the engine (see :class:`~.scheduler.Steps`)."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        self.made_folders: set[Path] = set()

    def start_batched(self, run: FileRun, meter: Meter) -> CrtCall:
        self._prepare_whole(run)
        return self._start_crt_get(run, meter)

    def end_batched(self, run: FileRun, call: CrtCall) -> None:
        self._end_crt_get(run, call)
        self._keep(run)

    def start(self, run: FileRun) -> None:
        task = run.task
        if task.is_folder:
            task.local.mkdir(parents=True, exist_ok=True)
            self.execution.finish(run, "transferred")
        elif task.span is not None:
            self._start_span(run, task.span)
        elif task.size >= self.settings.multipart_threshold:
            self._start_ranged_download(run)
        else:
            self.execution.attempts(run, lambda meter: self._get_whole(run, meter))
            self._keep(run)

    def start_again(self, run: FileRun) -> None:
        if run.temp is not None:
            run.temp.unlink(missing_ok=True)
        run.temp, run.discard_record = None, False
        self.engine.journal.delete(run.journal_key or "")
        self._start_ranged_download(run)

    def finish_parts(self, run: FileRun) -> None:
        """Check the complete ``.part`` file, then keep it (a span's: the kernel does)."""
        if run.task.span is not None:
            run.temp = None
            self.execution.finish(run, "transferred")
            return
        check_part_file(run)
        self._keep(run)

    def cleanup(self, run: FileRun) -> None:
        if run.task.span is None:  # a span's ``.part`` file the kernel keeps or removes
            close_part_file(self.engine, run)
        run.temp = None

    def _keep(self, run: FileRun) -> None:
        """Give the checked temporary file its final name and modification time, unless the
        transfer was cancelled meanwhile."""
        assert run.temp is not None
        self.execution.stop.check()
        if run.remote_mtime is not None:
            os.utime(run.temp, (run.remote_mtime, run.remote_mtime))
        os.replace(run.temp, run.task.local)
        run.temp = None
        if run.journal_key:
            self.engine.journal.delete(run.journal_key)
        self.execution.finish(run, "transferred")

    def _make_folder(self, folder: Path) -> None:
        """Create a download's folder once per transfer (thousands of files share a few folders)."""
        if folder not in self.made_folders:
            folder.mkdir(parents=True, exist_ok=True)
            self.made_folders.add(folder)

    # -- whole files ------------------------------------------------------------------------

    def _prepare_whole(self, run: FileRun) -> Path:
        self._make_folder(run.task.local.parent)
        run.temp = temp_path_for(run.task.local, resumable=False)
        return run.temp

    def _get_whole(self, run: FileRun, meter: Meter) -> None:
        temp = self._prepare_whole(run)
        if self.engine.crt is not None:
            self._end_crt_get(run, self._start_crt_get(run, meter))
            return
        response = self._get(run, ChecksumMode="ENABLED")
        headers = _headers_of(response)
        flexible = ObjectChecksum.of(response)
        checked_by_botocore = flexible is not None and not flexible.parts  # as the body streams
        digest = (
            None if checked_by_botocore or not self.settings.verify else hashlib.md5(usedforsecurity=False)
        )
        written = 0
        try:
            with temp.open("wb") as handle:
                for chunk in response["Body"].iter_chunks(self.settings.chunk_size):
                    handle.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    written += len(chunk)
                    meter.add(len(chunk))
        finally:
            response["Body"].close()
        run.checksum = flexible.algorithm if checked_by_botocore and flexible else None
        self._check_whole(run, written, digest, headers)

    def _start_crt_get(self, run: FileRun, meter: Meter) -> CrtCall:
        assert self.engine.crt is not None and run.temp is not None
        task = run.task
        return self.engine.crt.start_get(
            task.key, run.temp, task.size, task.etag, meter.add_quietly, meter.cancel
        )

    def _end_crt_get(self, run: FileRun, call: CrtCall) -> None:
        """Wait for a whole-object GET by the CRT (which checks any flexible checksum as it
        writes), then check the size, and the MD5 ETag where no flexible checksum was checked."""
        assert run.temp is not None
        headers = call.result()
        run.remote_mtime = _mtime_from_headers(headers)
        run.checksum = call.validated
        written = run.temp.stat().st_size
        digest = None
        if not call.validated and written == run.task.size and self._md5_to_check(run, headers):
            digest = hashlib.md5(usedforsecurity=False)
            md5_of(run.temp, 0, written, digest)  # a small file, still in the page cache
        self._check_whole(run, written, digest, headers)

    def _check_whole(self, run: FileRun, written: int, digest: Any, headers: dict[str, str]) -> None:
        if written != run.task.size:
            raise IncompleteTransfer(
                f"{run.task.path} arrived with {written} bytes instead of {run.task.size}; "
                "it changed on the server or the connection broke: run the download again."
            )
        etag = self._md5_to_check(run, headers)
        if digest is None or not etag:
            return
        if digest.hexdigest() != etag:
            raise IntegrityError(
                f"{run.task.path} arrived damaged (its MD5 differs from the server's ETag), "
                "so it was not kept."
            )
        run.checksum = "MD5"

    def _md5_to_check(self, run: FileRun, headers: dict[str, str]) -> str | None:
        """The MD5 a whole-object download must match, unless checking is off or the ETag is no MD5."""
        if not self.settings.verify or etag_is_not_md5(headers):
            return None
        return md5_in_etag(run.task.etag)

    def _get(self, run: FileRun, **extra: Any) -> Any:
        task = run.task
        if task.etag:
            extra["IfMatch"] = task.etag
        client = self.engine.ranged_client if "Range" in extra else self.client
        response = client.get_object(Bucket=self.bucket, Key=task.key, **extra)
        run.remote_mtime = _mtime_from_headers(_headers_of(response))
        return response

    # -- ranged parts -----------------------------------------------------------------------

    def _start_ranged_download(self, run: FileRun) -> None:
        """Start (or resume from ``<name>.part`` and the journal) a download in ranged parts."""
        assembly = assembly_for(self.client, self.bucket, self.settings, run.task)
        self._make_folder(run.task.local.parent)
        done = open_part_file(self.engine, run, assembly)
        self.execution.submit_parts(run, self._download_part, assembly.part_size, done)

    def _start_span(self, run: FileRun, span: PartSpan) -> None:
        """Write this batch's parts into the ``.part`` file the kernel made, which checks and keeps it."""
        run.temp = temp_path_for(run.task.local, resumable=True)
        run.state = Assembly(span.part_size, span.check, etag_of_parts=span.md5s)
        run.record = {"parts": span.done}
        self.execution.submit_parts(run, span.shifted(self._download_part), span.part_size, span.skipped())

    def _download_part(self, run: FileRun, number: int, offset: int, length: int) -> None:
        assert run.temp is not None
        temp, assembly = run.temp, run.state
        checksum = assembly.checksum

        def fetch(meter: Meter) -> None:
            crc = [0]

            def on_chunk(data: memoryview) -> None:
                assert checksum is not None
                crc[0] = checksum.update(data, crc[0])

            with temp.open("r+b") as handle:
                self._fetch_range(run, handle.fileno(), offset, length, meter, on_chunk if checksum else None)
            finished: int | str = crc[0] if checksum else ""
            if assembly.etag_of_parts:
                finished = md5_of(temp, offset, length)
            with run.lock:
                run.record.setdefault("parts", {})[str(number)] = finished
                if self.settings.resume and run.journal_key:
                    self.engine.journal.save(run.journal_key, run.record)

        self.execution.attempts(run, fetch)
        if assembly.etag_of_whole:
            hash_finished_prefix(run, assembly, wait=False)

    def _fetch_range(
        self,
        run: FileRun,
        fd: int,
        offset: int,
        length: int,
        meter: Meter,
        on_chunk: Callable[[memoryview], None] | None,
    ) -> None:
        """Write one range of the object into the open temporary file, at its own offset."""
        crt = self.engine.crt
        if crt is not None:  # native code writes the bytes: the CPU is left for checking
            headers = crt.get_range(
                run.task.key, fd, offset, length, run.task.etag, meter.add_quietly, meter.cancel, on_chunk
            )
            run.remote_mtime = _mtime_from_headers(headers)
            return
        response = self._get(run, Range=f"bytes={offset}-{offset + length - 1}")
        written = 0
        try:
            for chunk in response["Body"].iter_chunks(self.settings.chunk_size):
                if written + len(chunk) > length:
                    raise ProvenaWidgetsError(f"The server sent too much for {run.task.path}.")
                os.pwrite(fd, chunk, offset + written)
                if on_chunk is not None:
                    on_chunk(memoryview(chunk))
                written += len(chunk)
                meter.add(len(chunk))
        finally:
            response["Body"].close()
        if written != length:
            raise IncompleteTransfer(f"A part of {run.task.path} arrived short; run the download again.")
