"""How an object is copied on the server (no byte passes through here): whole with CopyObject, or,
above ``copy_threshold``, in ranged parts with UploadPartCopy. A move deletes each source as soon as
its copy is complete, so a failure or Cancel leaves every object whole in one place (at worst, the
copy done and the source not yet deleted: running the move again finishes it).

Both ways keep the user metadata (``mtime``) and the source's flexible checksum algorithm: CopyObject
copies them; a copy in parts declares them when it starts, and for a full-object CRC the server
checks the assembled copy against the source's value."""

from __future__ import annotations

import logging
from typing import Any

from .metering import Meter
from .plan import FileTask
from .scheduler import Execution, FileRun, StepsBase
from .settings import MAX_PARTS

log = logging.getLogger(__name__)

FULL_OBJECT_CRCS = ("CRC32", "CRC32C", "CRC64NVME")  # checksums a multipart copy can keep exactly
CARRIED_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")


def copy_part_size(size: int, preferred: int) -> int:
    """The part size of a copy in parts: ``preferred``, or larger so that it takes at most 10,000."""
    return max(preferred, -(-size // MAX_PARTS))


def stored_checksum(response: dict[str, Any]) -> tuple[str, str] | None:
    """An object's flexible checksum from HeadObject asked with ``ChecksumMode="ENABLED"``:
    ``(algorithm, value)``, the value as S3 writes it (``-N`` for a composite one)."""
    for name, value in response.items():
        if name.startswith("Checksum") and name != "ChecksumType" and isinstance(value, str) and value:
            return name[len("Checksum") :], value
    return None


class CopySteps(StepsBase):
    """Copies and moves inside the bucket (see :class:`~.scheduler.Steps`)."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        self.move = execution.direction == "move"

    def start(self, run: FileRun) -> None:
        if run.task.size > self.settings.copy_threshold and not run.task.is_folder:
            self._start_copy_in_parts(run)
            return
        self.execution.attempts(run, lambda meter: self._copy_whole(run, meter))
        self._done(run)

    def start_again(self, run: FileRun) -> None:
        self.start(run)

    def finish_parts(self, run: FileRun) -> None:
        expected: dict[str, str] = run.state or {}
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=run.task.key,
            UploadId=run.upload_id,
            MultipartUpload={"Parts": [run.parts[number] for number in sorted(run.parts)]},
            **expected,
        )
        run.upload_id = None
        self._done(run)

    def cleanup(self, run: FileRun) -> None:
        """A copy in parts that did not complete is aborted (copies are not resumed: they are
        cheap to start again, no byte crossing the network)."""
        if run.upload_id is not None:
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=run.task.key, UploadId=run.upload_id
                )
            except Exception as exc:  # the copy failed either way; say so, go on
                log.warning("Could not abort an unfinished copy to %s: %s", run.task.key, exc)
            run.upload_id = None

    def _source(self, task: FileTask) -> dict[str, Any]:
        """CopySource, and the ETag the source had when planned (a changed source is not copied)."""
        guard = {"CopySourceIfMatch": f'"{task.etag}"'} if task.etag else {}
        return {"CopySource": {"Bucket": self.bucket, "Key": task.source_key}, **guard}

    def _copy_whole(self, run: FileRun, meter: Meter) -> None:
        task = run.task
        response = self.client.copy_object(
            Bucket=self.bucket, Key=task.key, MetadataDirective="COPY", **self._source(task)
        )
        found = stored_checksum(response.get("CopyObjectResult", {}))
        run.checksum = found[0] if found else None
        meter.add_quietly(task.size)  # done: a Cancel now must not stop the move between copy and delete

    def _done(self, run: FileRun) -> None:
        """The copy is complete: a move deletes its source (whatever Cancel says meanwhile, so the
        object is not left in both places)."""
        if self.move:
            self.client.delete_object(Bucket=self.bucket, Key=run.task.source_key)
        self.execution.finish(run, "transferred")

    # -- in parts ---------------------------------------------------------------------------

    def _start_copy_in_parts(self, run: FileRun) -> None:
        task = run.task
        head = self.client.head_object(Bucket=self.bucket, Key=task.source_key, ChecksumMode="ENABLED")
        carried = {name: head[name] for name in CARRIED_HEADERS if head.get(name)}
        checksum = stored_checksum(head)
        declared: dict[str, str] = {}
        if checksum is not None:
            algorithm, value = checksum
            full = algorithm in FULL_OBJECT_CRCS
            declared = {
                "ChecksumAlgorithm": algorithm,
                "ChecksumType": "FULL_OBJECT" if full else "COMPOSITE",
            }
            if full and "-" not in value and head.get("ChecksumType") != "COMPOSITE":
                # the server checks the assembled copy against the source's value
                run.state = {f"Checksum{algorithm}": value, "ChecksumType": "FULL_OBJECT"}
            run.checksum = algorithm
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=task.key, Metadata=head.get("Metadata", {}), **carried, **declared
        )
        run.upload_id = response["UploadId"]
        part_size = copy_part_size(task.size, self.settings.copy_part_size)
        self.execution.submit_parts(run, self._copy_part, part_size, set())

    def _copy_part(self, run: FileRun, number: int, offset: int, length: int) -> None:
        def send(meter: Meter) -> None:
            response = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=run.task.key,
                UploadId=run.upload_id,
                PartNumber=number,
                CopySourceRange=f"bytes={offset}-{offset + length - 1}",
                **self._source(run.task),
            )
            result = response["CopyPartResult"]
            part = {"PartNumber": number, "ETag": result["ETag"]}
            part.update({k: v for k, v in result.items() if k.startswith("Checksum") and k != "ChecksumType"})
            with run.lock:
                run.parts[number] = part
            meter.add_quietly(length)

        self.execution.attempts(run, send)
