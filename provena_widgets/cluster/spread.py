"""Large files moved by parts on several workers.

The kernel opens each such file with the engine's own code: a multipart upload with the engine's
checksum algorithm, or a ``.part`` file of the file's size on the shared file system (either
resumed from its journal record). Batches move spans of its parts with the engine's part steps and
send back what each part gave (ETag and checksum, or CRC). The kernel then finishes the file:
completes the upload from those parts (the server builds the composite checksum, as for an upload
in one kernel), or checks the assembled file from the parts' CRCs and renames it. A file not
finished (a span failed, Cancel) follows the engine's rules: with ``resume`` its upload or
``.part`` file is kept with a journal record of the parts that arrived, else aborted or removed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProvenaWidgetsError
from ..transfer.assembly import check_part_file, close_part_file, open_part_file
from ..transfer.downloads import assembly_for, object_mtime
from ..transfer.engine import TransferEngine
from ..transfer.plan import FileTask, PartSpan
from ..transfer.report import Direction, FileResult, Status
from ..transfer.scheduler import FileRun
from ..transfer.uploads import close_multipart, complete_multipart, open_multipart
from .batches import runs_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpanDone:
    """What one run of a span gave, sent by its batch when it ends: each part's value by number."""

    key: str
    first: int
    parts: dict[str, Any]


@dataclass
class Spread:
    """A file whose parts several batches move, and the kernel's record of it (upload or
    ``.part`` file, the parts so far, its journal name)."""

    run: FileRun
    part_size: int
    spans: list[FileTask]
    started: float = field(default_factory=time.monotonic)

    def complete(self) -> bool:
        """Whether every part of the file arrived."""
        arrived = self.run.record.get("parts", {})
        return all(
            str(number) in arrived for number in range(1, -(-self.run.task.size // self.part_size) + 1)
        )


class Spreads:
    """The files of one transfer spread over batches: opened before the batches run, finished after."""

    def __init__(self, engine: TransferEngine, direction: Direction) -> None:
        self.engine = engine
        self.direction = direction
        self.files: list[Spread] = []
        self._by_span: dict[tuple[str, int], Spread] = {}  # each span's file, by key and first part

    def split(self, tasks: list[FileTask], target: float) -> list[FileTask]:
        """``tasks`` with each file costlier than ``target`` replaced by spans of its parts."""
        pieces: list[FileTask] = []
        for task in tasks:
            spread = self._open(task, target) if self._worth_it(task, target) else None
            pieces.extend(spread.spans if spread is not None else [task])
        return pieces

    def _worth_it(self, task: FileTask, target: float) -> bool:
        threshold = self.engine.settings.multipart_threshold
        return task.action == "transfer" and not task.is_folder and task.size >= max(threshold, target)

    def _open(self, task: FileTask, target: float) -> Spread | None:
        """Open ``task`` for spans of its parts; ``None`` leaves it whole to one batch."""
        engine, run = self.engine, FileRun(0, task)
        try:
            if self.direction == "upload":
                part_size = engine.settings.part_size_for(task.size)
                runs = runs_of(task.size, part_size, target, engine.settings.multipart_threshold)
                if len(runs) < 2:
                    return None
                open_multipart(engine, run, part_size, engine.checksum)
                done, how = set(run.parts), PartSpan(0, 0, part_size, str(run.upload_id), run.checksum)
            else:
                assembly = assembly_for(engine.client, engine.bucket, engine.settings, task)
                part_size = assembly.part_size
                runs = runs_of(task.size, part_size, target, engine.settings.multipart_threshold)
                if assembly.etag_of_whole or len(runs) < 2:  # one MD5 pass in order: one batch's work
                    return None
                task.local.parent.mkdir(parents=True, exist_ok=True)
                done = open_part_file(engine, run, assembly)
                how = PartSpan(0, 0, part_size, check=assembly.checksum, md5s=assembly.etag_of_parts)
        except Exception as exc:  # the batch that gets it whole says what is wrong, as the engine would
            log.debug("not spreading %s: %s", task.path, exc)
            return None
        spans = []
        for first, count in runs:
            offset = (first - 1) * part_size
            skip = frozenset(number for number in done if first <= number < first + count)
            span = dataclasses.replace(how, first=first, offset=offset, skip=skip, done={})
            spans.append(
                dataclasses.replace(task, size=min(count * part_size, task.size - offset), span=span)
            )
        spread = Spread(run, part_size, spans)
        self.files.append(spread)
        self._by_span.update({(task.key, first): spread for first, _ in runs})
        return spread

    def destinations(self) -> set[str]:
        """What the report calls the spread files (their spans' results bear the same names)."""
        return {spread.run.task.ends(self.direction)[1] for spread in self.files}

    def absorb(self, messages: Iterable[SpanDone]) -> None:
        """Note the parts a batch's run of a span finished."""
        for message in messages:
            spread = self._by_span.get((message.key, message.first))
            if spread is not None:
                spread.run.record.setdefault("parts", {}).update(message.parts)

    def finish(
        self, span_results: list[FileResult], stopped: bool
    ) -> tuple[list[FileResult], list[ProvenaWidgetsError]]:
        """Finish every spread file: one result each, and the errors of those that could not be.
        ``span_results``: the batches' results of the spans (a failed or stopped span's reason is its file's);
        ``stopped``: cancelled, or stopped by a fatal error (then nothing completes)."""
        results, errors = [], []
        files, self.files, self._by_span = self.files, [], {}
        for spread in files:
            task = spread.run.task
            ends = task.ends(self.direction)
            unfinished = [
                one for one in span_results if one.destination == ends[1] and one.status != "transferred"
            ]
            failed = [one for one in unfinished if one.status == "failed"]
            if stopped or unfinished or not spread.complete():
                self._close(spread.run)
                status: Status = "failed" if failed else "cancelled"
                why = (failed or unfinished)[0].reason if unfinished else "cancelled"
                results.append(FileResult(*ends, task.size, status, reason=why))
                continue
            try:
                self._finish(spread.run)
            except Exception as exc:
                errors.append(self.engine.translate(exc, self.direction, task.path))
                self._close(spread.run)
                results.append(FileResult(*ends, task.size, "failed", reason=str(errors[-1])))
                continue
            seconds = time.monotonic() - spread.started
            results.append(
                FileResult(*ends, task.size, "transferred", task.size, seconds, checksum=spread.run.checksum)
            )
        return results, errors

    def abandon(self) -> None:
        """Close the files opened but never finished (the transfer stopped before its batches ended)."""
        files, self.files, self._by_span = self.files, [], {}
        for spread in files:
            self._close(spread.run)

    def _finish(self, run: FileRun) -> None:
        if self.direction == "upload":
            run.parts = {int(number): part for number, part in run.record["parts"].items()}
            complete_multipart(self.engine, run)
        else:
            self._keep(run)

    def _keep(self, run: FileRun) -> None:
        """Check the assembled ``.part`` file, then give it its final name and time."""
        check_part_file(run)
        assert run.temp is not None
        mtime = object_mtime(self.engine.client, self.engine.bucket, run.task.key)
        if mtime is not None:
            os.utime(run.temp, (mtime, mtime))
        os.replace(run.temp, run.task.local)
        run.temp = None
        if run.journal_key:
            self.engine.journal.delete(run.journal_key)

    def _close(self, run: FileRun) -> None:
        """Keep what arrived for resuming (journalled), or abort or remove it, as the engine does."""
        if self.engine.settings.resume and run.journal_key:
            self.engine.journal.save(run.journal_key, run.record)
        if self.direction == "upload":
            close_multipart(self.engine, run)
        else:
            close_part_file(self.engine, run)


def without(results: list[FileResult], destinations: set[str]) -> tuple[list[FileResult], list[FileResult]]:
    """``results`` split into those of whole files and those of spans (named as their files)."""
    whole = [result for result in results if result.destination not in destinations]
    spans = [result for result in results if result.destination in destinations]
    return whole, spans
