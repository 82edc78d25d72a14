"""An upload left open on the server, taken up again when no resume record says where it stopped
(a batch rerun on another machine, a kernel started with a fresh journal folder).

ListMultipartUploads finds the newest open upload of exactly the key; ListParts, where the
credentials allow it (Provena's do not: then a new upload starts), says which parts it holds. An
upload whose parts are not the plan's sizes is left alone. A part is kept only when its checksum
(the part's CRC if the server lists one, else its ETag, the MD5 of the part) matches the local
bytes read now; the others are sent again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import IncompleteTransfer
from .checksums import CRC_ALGORITHMS, ObjectChecksum, blocks_of, md5_in_etag
from .plan import FileTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leftover:
    """An open upload to continue, and the parts of it that hold the local file's bytes."""

    upload_id: str
    parts: dict[int, dict[str, Any]]  # as CompleteMultipartUpload takes them


def take_up(
    client: Any, bucket: str, task: FileTask, part_size: int, algorithm: str | None
) -> Leftover | None:
    """The newest open upload of ``task.key`` made with ``algorithm`` whose parts fit the plan
    (``part_size``), with the parts that match the local file; ``None`` when there is none to use."""
    if algorithm is not None and algorithm not in CRC_ALGORITHMS:
        return None
    upload_id = newest_open_upload(client, bucket, task.key, algorithm)
    if upload_id is None:
        return None
    try:
        pages = client.get_paginator("list_parts").paginate(Bucket=bucket, Key=task.key, UploadId=upload_id)
        listed = [part for page in pages for part in page.get("Parts", [])]
    except ClientError as exc:  # not allowed (Provena), or just completed or aborted elsewhere
        log.debug("cannot list the parts of an open upload of %s: %s", task.path, exc)
        return None
    sizes = {
        n: min(part_size, task.size - offset) for n, offset in enumerate(range(0, task.size, part_size), 1)
    }
    if any(sizes.get(int(part["PartNumber"])) != int(part["Size"]) for part in listed):
        log.debug("an open upload of %s has other part sizes: a new one starts", task.path)
        return None
    kept = {}
    for part in listed:
        number = int(part["PartNumber"])
        found = _matching_part(task, part, (number - 1) * part_size, sizes[number], algorithm)
        if found is not None:
            kept[number] = found
    log.debug("taking up an open upload of %s: %d of %d parts kept", task.path, len(kept), len(listed))
    return Leftover(upload_id, kept)


def open_uploads(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """The open multipart uploads of exactly ``key``, oldest listed first; none when the server will
    not list them (rclone answers NoSuchUpload while none is open in the bucket)."""
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=key)
    try:
        return [upload for page in pages for upload in page.get("Uploads", []) if upload.get("Key") == key]
    except ClientError as exc:
        log.debug("cannot list the open uploads of %s: %s", key, exc)
        return []


def newest_open_upload(client: Any, bucket: str, key: str, algorithm: str | None) -> str | None:
    """The open upload of exactly ``key`` with ``algorithm`` initiated last (listed last, on a tie)."""
    found = [
        (upload.get("Initiated"), index, str(upload["UploadId"]))
        for index, upload in enumerate(open_uploads(client, bucket, key))
        if upload.get("ChecksumAlgorithm") == algorithm
    ]
    return max(found)[2] if found else None


def _matching_part(
    task: FileTask, part: dict[str, Any], offset: int, length: int, algorithm: str | None
) -> dict[str, Any] | None:
    """The part as completing takes it, if the local bytes at ``offset`` give its checksum: its
    CRC where the server lists one (and always, for completing), else the MD5 of its ETag."""
    crc_of = ObjectChecksum(algorithm, "") if algorithm else None
    theirs = part.get(f"Checksum{algorithm}") if algorithm else None
    md5 = None if theirs else hashlib.md5(usedforsecurity=False)
    crc = 0
    try:
        for block in blocks_of(task.local, offset, length):
            if md5 is not None:
                md5.update(block)
            if crc_of is not None:
                crc = crc_of.update(block, crc)
    except IncompleteTransfer:  # the file is shorter now
        return None
    ours = {f"Checksum{algorithm}": crc_of.encode(crc)} if crc_of is not None else {}
    same = (
        theirs == ours.get(f"Checksum{algorithm}")
        if md5 is None
        else md5_in_etag(part.get("ETag")) == md5.hexdigest()
    )
    return {"PartNumber": part["PartNumber"], "ETag": part["ETag"], **ours} if same else None
