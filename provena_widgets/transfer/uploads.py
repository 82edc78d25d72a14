"""How a file goes up: whole (through the CRT, or botocore), or in parts of a multipart upload
that records each finished part in the resume journal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..s3errors import refuses_checksum
from ..s3objects import MTIME_METADATA
from .crt import CrtCall
from .journal import Journal
from .leftover import take_up
from .metering import FileSlice, Meter
from .plan import FileTask
from .scheduler import Execution, FileRun, StepsBase

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

    def describe(self, task: FileTask) -> tuple[str, str]:
        return str(task.local), task.path

    def start_batched(self, run: FileRun, meter: Meter) -> CrtCall:
        return self._start_crt_put(run, meter, self.checksum)

    def end_batched(self, run: FileRun, call: CrtCall) -> None:
        call.result()
        self.execution.finish(run, "transferred")

    def start(self, run: FileRun) -> None:
        task = run.task
        if task.size >= self.settings.multipart_threshold and not task.is_folder:
            self._start_multipart_upload(run)
            return
        self.execution.attempts(run, lambda meter: self._put(run, meter))
        self.execution.finish(run, "transferred")

    def start_again(self, run: FileRun) -> None:
        self.start(run)

    def finish_parts(self, run: FileRun) -> None:
        parts = [run.parts[number] for number in sorted(run.parts)]
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=run.task.key,
            UploadId=run.upload_id,
            MultipartUpload={"Parts": parts},
        )
        run.upload_id = None
        if run.journal_key:
            self.engine.journal.delete(run.journal_key)
        self.execution.finish(run, "transferred")

    def cleanup(self, run: FileRun) -> None:
        keep = self.settings.resume and run.journal_key is not None and not run.discard_record
        if run.upload_id is not None and not keep:
            self.abort(run.task.key, run.upload_id)
        run.upload_id = None
        if run.journal_key is not None and not keep:
            self.engine.journal.delete(run.journal_key)

    # -- whole files ------------------------------------------------------------------------

    def _with_checksum(self, run: FileRun, call: Callable[[str | None], Any]) -> Any:
        """Call with this transfer's flexible checksum; a server that refuses it gets none."""
        algorithm = self.checksum
        try:
            answer = call(algorithm)
        except ClientError as exc:
            if not algorithm or not refuses_checksum(exc):
                raise
            log.warning(
                "The server refused %s checksums: this transfer uploads without them (%s).",
                algorithm,
                exc,
            )
            self.checksum = algorithm = None
            answer = call(None)
        run.checksum = algorithm
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
        """Start a multipart upload, or resume one (from the journal, else an open upload found on
        the server, see :mod:`.leftover`), and queue its parts."""
        task = run.task
        part_size = self.settings.part_size_for(task.size)
        run.journal_key = Journal.name("upload", self.engine.endpoint, self.bucket, task.key, task.local)
        record = self.engine.journal.load(run.journal_key) if self.settings.resume else None
        identity = {"size": task.size, "mtime": task.mtime, "part_size": part_size}
        if (
            record is not None
            and all(record.get(k) == v for k, v in identity.items())
            and self._upload_exists(task.key, str(record.get("upload_id")))
        ):
            run.upload_id = str(record["upload_id"])
            run.parts = {int(number): part for number, part in record.get("parts", {}).items()}
            run.checksum = record.get("checksum", self.checksum)
            log.debug("resuming %s: %d parts already sent", task.path, len(run.parts))
        else:
            if record is not None:  # the file changed or the upload is gone: start over cleanly
                self.abort(task.key, record.get("upload_id"))
            found = None
            if record is None and self.settings.resume:  # no record here: maybe an open upload
                found = take_up(self.client, self.bucket, task, part_size, self.checksum)
            if found is not None:
                run.upload_id, run.parts, run.checksum = found.upload_id, dict(found.parts), self.checksum
            else:
                response = self._with_checksum(
                    run,
                    lambda algorithm: self.client.create_multipart_upload(
                        Bucket=self.bucket, Key=task.key, Metadata=file_metadata(task),
                        **_checksum_argument(algorithm),
                    ),
                )  # fmt: skip
                run.upload_id = response["UploadId"]
            record = {"direction": "upload", "key": task.key, "local": str(task.local), **identity,
                      "upload_id": run.upload_id, "checksum": run.checksum,
                      "parts": {str(number): part for number, part in run.parts.items()}}  # fmt: skip
            if self.settings.resume:
                self.engine.journal.save(run.journal_key, record)
        run.record = record
        self.execution.submit_parts(run, self._upload_part, part_size, set(run.parts))

    def _upload_exists(self, key: str, upload_id: str) -> bool:
        """Whether the server still holds ``upload_id`` (ListParts is not allowed; this is)."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=key)
        return any(
            upload.get("UploadId") == upload_id and upload.get("Key") == key
            for page in pages
            for upload in page.get("Uploads", [])
        )

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

    def abort(self, key: str, upload_id: object) -> None:
        if not upload_id:
            return
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=str(upload_id))
        except Exception as exc:  # the upload is useless either way; say so, go on
            log.warning("Could not abort an unfinished upload of %s: %s", key, exc)


def _checksum_argument(algorithm: str | None) -> dict[str, str]:
    """botocore's argument for a flexible checksum: it computes the value and names the algorithm."""
    return {"ChecksumAlgorithm": algorithm} if algorithm else {}
