"""How a file goes up: whole (through the CRT, or botocore), or in parts of a multipart upload
that records each finished part in the resume journal. Opening, completing and closing such an
upload are functions the kernel also uses for a file whose parts batches on a cluster send."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..s3errors import refuses_checksum
from ..s3objects import MTIME_METADATA
from .crt import CrtCall
from .journal import Journal
from .leftover import open_uploads, take_up
from .metering import FileSlice, Meter
from .plan import FileTask, PartSpan
from .scheduler import Engine, Execution, FileRun, StepsBase

log = logging.getLogger(__name__)


def file_metadata(task: FileTask) -> dict[str, str]:
    return {MTIME_METADATA: f"{task.mtime:.3f}"} if task.mtime is not None else {}


class UploadSteps(StepsBase):
    """The upload half of the engine (see :class:`~.scheduler.Steps`)."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        # Asked of the server afresh by every transfer; one that refuses them gets none (said in
        # the log and in each file's report) for the rest of this transfer only.
        self.checksum = execution.engine.checksum

    def start_batched(self, run: FileRun, meter: Meter) -> CrtCall:
        return self._start_crt_put(run, meter, self.checksum)

    def end_batched(self, run: FileRun, call: CrtCall) -> None:
        call.result()
        self.execution.finish(run, "transferred")

    def start(self, run: FileRun) -> None:
        task = run.task
        if task.span is not None:
            self._start_span(run, task.span)
            return
        if task.size >= self.settings.multipart_threshold and not task.is_folder:
            self._start_multipart_upload(run)
            return
        self.execution.attempts(run, lambda meter: self._put(run, meter))
        self.execution.finish(run, "transferred")

    def start_again(self, run: FileRun) -> None:
        self.start(run)

    def finish_parts(self, run: FileRun) -> None:
        if run.task.span is None:  # a span's upload the kernel completes
            complete_multipart(self.engine, run)
        self.execution.finish(run, "transferred")

    def cleanup(self, run: FileRun) -> None:
        if run.task.span is None:  # a span's upload the kernel keeps or aborts
            close_multipart(self.engine, run)
        run.upload_id = None

    # -- whole files ------------------------------------------------------------------------

    def _with_checksum(self, run: FileRun, call: Callable[[str | None], Any]) -> Any:
        """Call with this transfer's flexible checksum; a server that refuses it gets none."""
        answer, run.checksum = with_checksum(self.checksum, call)
        if run.checksum is None:
            self.checksum = None
        return answer

    def _put(self, run: FileRun, meter: Meter) -> None:
        task = run.task
        if task.is_folder:
            self.client.put_object(Bucket=self.bucket, Key=task.key, Body=b"")
            return
        if self.engine.crt is not None:
            self._with_checksum(run, lambda algorithm: self._start_crt_put(run, meter, algorithm).result())
            return
        with FileSlice(task.local, 0, task.size, meter) as body:

            def put(algorithm: str | None) -> Any:
                body.seek(0)
                return self.client.put_object(
                    Bucket=self.bucket,
                    Key=task.key,
                    Body=body,
                    ContentLength=task.size,
                    Metadata=file_metadata(task),
                    **_checksum_argument(algorithm),
                )

            self._with_checksum(run, put)

    def _start_crt_put(self, run: FileRun, meter: Meter, algorithm: str | None) -> CrtCall:
        assert self.engine.crt is not None
        task = run.task
        run.checksum = algorithm
        return self.engine.crt.start_put(
            task.key, task.local, task.size, file_metadata(task), algorithm, meter.add_quietly, meter.cancel
        )

    # -- multipart --------------------------------------------------------------------------

    def _start_multipart_upload(self, run: FileRun) -> None:
        part_size = self.settings.part_size_for(run.task.size)
        self.checksum = open_multipart(self.engine, run, part_size, self.checksum)
        self.execution.submit_parts(run, self._upload_part, part_size, set(run.parts))

    def _start_span(self, run: FileRun, span: PartSpan) -> None:
        """Send this batch's parts of a multipart upload the kernel opened (and completes)."""
        run.upload_id, run.checksum, run.record = span.upload_id, span.algorithm, {"parts": span.done}
        self.execution.submit_parts(run, span.shifted(self._upload_part), span.part_size, span.skipped())

    def _upload_part(self, run: FileRun, number: int, offset: int, length: int) -> None:
        def send(meter: Meter) -> None:
            with FileSlice(run.task.local, offset, length, meter) as body:
                response = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=run.task.key,
                    UploadId=run.upload_id,
                    PartNumber=number,
                    Body=body,
                    ContentLength=length,
                    **_checksum_argument(run.checksum),
                )
            part = {"PartNumber": number, "ETag": response["ETag"]}
            part.update(
                {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"}
            )
            with run.lock:
                run.parts[number] = part
                run.record.setdefault("parts", {})[str(number)] = part
                if self.settings.resume and run.journal_key:
                    self.engine.journal.save(run.journal_key, run.record)

        self.execution.attempts(run, send)


def with_checksum(algorithm: str | None, call: Callable[[str | None], Any]) -> tuple[Any, str | None]:
    """``call`` with ``algorithm``, or with none if the server refuses it: its answer, and the
    algorithm it was made with."""
    try:
        return call(algorithm), algorithm
    except ClientError as exc:
        if not algorithm or not refuses_checksum(exc):
            raise
        log.warning(
            "The server refused %s checksums: this transfer uploads without them (%s).", algorithm, exc
        )
        return call(None), None


def open_multipart(engine: Engine, run: FileRun, part_size: int, algorithm: str | None) -> str | None:
    """Start a multipart upload of the run's file, or resume one: from the journal, else an open
    upload found on the server (:mod:`.leftover`). Sets the run's upload, parts, checksum, record
    and journal name; returns the algorithm for the rest of the transfer (``None`` once refused)."""
    task, client, bucket = run.task, engine.client, engine.bucket
    resume = engine.settings.resume
    run.journal_key = Journal.name("upload", engine.endpoint, bucket, task.key, task.local)
    record = engine.journal.load(run.journal_key) if resume else None
    identity = {"size": task.size, "mtime": task.mtime, "part_size": part_size}
    if (
        record is not None
        and all(record.get(k) == v for k, v in identity.items())
        and any(
            upload.get("UploadId") == record.get("upload_id")
            for upload in open_uploads(client, bucket, task.key)
        )
    ):
        run.upload_id = str(record["upload_id"])
        run.parts = {int(number): part for number, part in record.get("parts", {}).items()}
        run.checksum = record.get("checksum", algorithm)
        run.record = record
        log.debug("resuming %s: %d parts already sent", task.path, len(run.parts))
        return algorithm
    if record is not None:  # the file changed or the upload is gone: start over cleanly
        abort(client, bucket, task.key, record.get("upload_id"))
    found = take_up(client, bucket, task, part_size, algorithm) if record is None and resume else None
    if found is not None:
        run.upload_id, run.parts, run.checksum = found.upload_id, dict(found.parts), algorithm
    else:
        response, run.checksum = with_checksum(
            algorithm,
            lambda chosen: client.create_multipart_upload(
                Bucket=bucket, Key=task.key, Metadata=file_metadata(task), **_checksum_argument(chosen)
            ),
        )
        run.upload_id = response["UploadId"]
    run.record = {"direction": "upload", "key": task.key, "local": str(task.local), **identity,
                  "upload_id": run.upload_id, "checksum": run.checksum,
                  "parts": {str(number): part for number, part in run.parts.items()}}  # fmt: skip
    if resume:
        engine.journal.save(run.journal_key, run.record)
    return run.checksum


def complete_multipart(engine: Engine, run: FileRun) -> None:
    """Complete the run's upload from its parts (the server builds the checksum of their checksums)."""
    parts = [run.parts[number] for number in sorted(run.parts)]
    engine.client.complete_multipart_upload(
        Bucket=engine.bucket, Key=run.task.key, UploadId=run.upload_id, MultipartUpload={"Parts": parts}
    )
    run.upload_id = None
    if run.journal_key:
        engine.journal.delete(run.journal_key)


def close_multipart(engine: Engine, run: FileRun) -> None:
    """After a failure or Cancel: keep the upload and its record for resuming, or abort it."""
    keep = engine.settings.resume and run.journal_key is not None and not run.discard_record
    if run.upload_id is not None and not keep:
        abort(engine.client, engine.bucket, run.task.key, run.upload_id)
    run.upload_id = None
    if run.journal_key is not None and not keep:
        engine.journal.delete(run.journal_key)


def abort(client: Any, bucket: str, key: str, upload_id: object) -> None:
    if not upload_id:
        return
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=str(upload_id))
    except Exception as exc:  # the upload is useless either way; say so, go on
        log.warning("Could not abort an unfinished upload of %s: %s", key, exc)


def _checksum_argument(algorithm: str | None) -> dict[str, str]:
    """botocore's argument for a flexible checksum: it computes the value and names the algorithm."""
    return {"ChecksumAlgorithm": algorithm} if algorithm else {}
