"""Splitting a plan into batches of about equal work, one Dask task each; a file far larger than
a batch's share goes as runs of its parts (see :mod:`.spread`)."""

from __future__ import annotations

import heapq
import math

from ..transfer.plan import FileTask

FILE_COST = 256 * 1024  # what a file costs beyond its bytes (requests, opening), so counts balance too
BATCHES_PER_WORKER = 2  # smaller batches: a lost worker costs less, and a slow one holds up less


def batch_count(tasks: list[FileTask], workers: int) -> int:
    """How many batches: two per worker, never more than there are files to move."""
    moving = sum(task.action == "transfer" for task in tasks)
    return max(1, min(moving, BATCHES_PER_WORKER * max(1, workers)))


def share(tasks: list[FileTask], workers: int) -> float:
    """What one batch should carry if there are two per worker."""
    return max(1, sum(map(cost, tasks))) / (BATCHES_PER_WORKER * max(1, workers))


def runs_of(size: int, part_size: int, target: float, least: int) -> list[tuple[int, int]]:
    """A file's parts in consecutive runs of about ``target`` bytes, as ``(first part, parts)``,
    each at least ``least`` bytes (the multipart threshold, so the engine moves a run in parts)."""
    parts = -(-size // part_size)
    count = max(1, min(parts, math.ceil(size / target)))
    while count > 1 and size - (parts - parts // count) * part_size < least:  # the last run is the least
        count -= 1
    base, extra = divmod(parts, count)
    runs, first = [], 1
    for index in range(count):
        length = base + (index < extra)
        runs.append((first, length))
        first += length
    return runs


def cost(task: FileTask) -> int:
    """A file's share of the work: its bytes and a fixed cost; nothing for skips and refusals."""
    return task.size + FILE_COST if task.action == "transfer" else 0


def split(tasks: list[FileTask], count: int) -> list[list[FileTask]]:
    """``tasks`` in at most ``count`` batches of about equal cost: the costliest first, each to the
    batch with the least so far. Within a batch, files keep the plan's order."""
    loads = [(0, batch) for batch in range(max(1, count))]
    chosen: list[list[int]] = [[] for _ in loads]
    for index in sorted(range(len(tasks)), key=lambda i: -cost(tasks[i])):
        load, batch = heapq.heappop(loads)
        chosen[batch].append(index)
        heapq.heappush(loads, (load + cost(tasks[index]), batch))
    return [[tasks[i] for i in sorted(indices)] for indices in chosen if indices]
