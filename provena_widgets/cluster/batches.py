"""Splitting a plan into batches of about equal work, one Dask task each."""

from __future__ import annotations

import heapq

from ..transfer.plan import FileTask

FILE_COST = 256 * 1024  # what a file costs beyond its bytes (requests, opening), so counts balance too
BATCHES_PER_WORKER = 2  # smaller batches: a lost worker costs less, and a slow one holds up less


def batch_count(tasks: list[FileTask], workers: int) -> int:
    """How many batches: two per worker, never more than there are files to move."""
    moving = sum(task.action == "transfer" for task in tasks)
    return max(1, min(moving, BATCHES_PER_WORKER * max(1, workers)))


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
