"""DatasetStore's sync calls: plan a one-way sync, show it (``dry_run``), carry it out.

A mixin :class:`~.store.DatasetStore` inherits, so the facade's module holds its other calls in
a readable length: planning is :mod:`.sync`'s; a plan runs through the facade's own transfer and
delete, declared below.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from .sync import Compare, Filter, SyncOptions, SyncPlan, SyncTable, plan_sync_down, plan_sync_up
from .transfer.cancel import CancelToken
from .transfer.handle import Transfer
from .transfer.localfs import LocalPath
from .transfer.plan import FileTask
from .transfer.progress import Progress
from .transfer.report import Direction, TransferReport

if TYPE_CHECKING:
    from .folder.connection import Connection


class SyncCalls:
    """``plan_sync_up/down``, ``run_sync``, ``start_sync`` and ``sync_up/down`` of the store."""

    if TYPE_CHECKING:  # what the facade provides
        _connection: Connection

        def _execute(
            self,
            direction: Direction,
            tasks: list[FileTask],
            progress: Progress,
            cancel: CancelToken | None,
            cluster: Any = None,
        ) -> TransferReport: ...

        def delete(self, paths: Iterable[str] | str, *, allow_metadata: bool = False) -> list[str]: ...

    def plan_sync_up(
        self,
        local_dir: LocalPath,
        to: str = "",
        *,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
        allow_metadata: bool = False,
    ) -> SyncPlan:
        """What :meth:`sync_up` would do (new / changed / unchanged / extra); changes nothing."""
        options = SyncOptions(Filter.of(include, exclude), compare, delete)
        return plan_sync_up(self._connection, local_dir, to, options, allow_metadata)

    def plan_sync_down(
        self,
        from_: str = "",
        to: LocalPath = ".",
        *,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
    ) -> SyncPlan:
        """What :meth:`sync_down` would do; changes nothing."""
        return plan_sync_down(
            self._connection, from_, to, SyncOptions(Filter.of(include, exclude), compare, delete)
        )

    def run_sync(
        self,
        plan: SyncPlan,
        progress: Progress = "text",
        cancel: CancelToken | None = None,
        cluster: Any = None,
    ) -> TransferReport:
        """Carry out a sync plan: transfer what is new or changed; then, only if all of that
        worked, delete what the plan marks for deletion (never Provena's metadata.json)."""
        report = self._execute(plan.transfer_direction, plan.tasks, progress, cancel, cluster)
        if plan.to_delete and report.ok:
            if plan.direction == "up":
                report.deleted = self.delete([plan.remote_base + item.path for item in plan.to_delete])
            else:
                report.deleted = plan.delete_local_extras()
        return report

    def start_sync(self, plan: SyncPlan, *, progress: Progress = "text", cluster: Any = None) -> Transfer:
        """Like :meth:`run_sync`, in the background; returns a :class:`Transfer`."""
        return Transfer(lambda token: self.run_sync(plan, progress, token, cluster), "sync").start()

    @overload
    def sync_up(self, local_dir: LocalPath, to: str = "", *, dry_run: Literal[True], delete: bool = False,
                include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                compare: Compare = "time", allow_metadata: bool = False,
                progress: Progress = "text", cluster: Any = None) -> SyncTable: ...  # fmt: skip
    @overload
    def sync_up(self, local_dir: LocalPath, to: str = "", *, dry_run: Literal[False] = False,
                delete: bool = False, include: Iterable[str] | str | None = None,
                exclude: Iterable[str] | str | None = None, compare: Compare = "time",
                allow_metadata: bool = False, progress: Progress = "text",
                cluster: Any = None) -> TransferReport: ...  # fmt: skip
    @overload
    def sync_up(self, local_dir: LocalPath, to: str = "", *, dry_run: bool, delete: bool = False,
                include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                compare: Compare = "time", allow_metadata: bool = False, progress: Progress = "text",
                cluster: Any = None) -> TransferReport | SyncTable: ...  # fmt: skip
    def sync_up(
        self,
        local_dir: LocalPath,
        to: str = "",
        *,
        dry_run: bool = False,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
        allow_metadata: bool = False,
        progress: Progress = "text",
        cluster: Any = None,
    ) -> TransferReport | SyncTable:
        """Make the dataset folder ``to`` hold what ``local_dir`` holds (its contents).

        ``dry_run=True`` changes nothing and returns the plan as a table (new / changed /
        unchanged / extra, with sizes; a pandas DataFrame when pandas is installed). Extras at the
        destination are removed only with ``delete=True``, never Provena's ``metadata.json``.
        ``include`` / ``exclude`` are globs (exclude wins); ``compare`` is ``"time"`` (size and
        modification time) or ``"checksum"``. Otherwise returns the :class:`TransferReport`.
        """
        plan = self.plan_sync_up(local_dir, to, delete=delete, include=include, exclude=exclude,
                                 compare=compare, allow_metadata=allow_metadata)  # fmt: skip
        return plan.table() if dry_run else self.run_sync(plan, progress, cluster=cluster)

    @overload
    def sync_down(self, from_: str = "", to: LocalPath = ".", *, dry_run: Literal[True], delete: bool = False,
                  include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                  compare: Compare = "time", progress: Progress = "text",
                  cluster: Any = None) -> SyncTable: ...  # fmt: skip
    @overload
    def sync_down(self, from_: str = "", to: LocalPath = ".", *, dry_run: Literal[False] = False,
                  delete: bool = False, include: Iterable[str] | str | None = None,
                  exclude: Iterable[str] | str | None = None, compare: Compare = "time",
                  progress: Progress = "text", cluster: Any = None) -> TransferReport: ...  # fmt: skip
    @overload
    def sync_down(self, from_: str = "", to: LocalPath = ".", *, dry_run: bool, delete: bool = False,
                  include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None,
                  compare: Compare = "time", progress: Progress = "text",
                  cluster: Any = None) -> TransferReport | SyncTable: ...  # fmt: skip
    def sync_down(
        self,
        from_: str = "",
        to: LocalPath = ".",
        *,
        dry_run: bool = False,
        delete: bool = False,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        compare: Compare = "time",
        progress: Progress = "text",
        cluster: Any = None,
    ) -> TransferReport | SyncTable:
        """Make the local folder ``to`` hold what the dataset folder ``from_`` holds (see sync_up)."""
        plan = self.plan_sync_down(
            from_, to, delete=delete, include=include, exclude=exclude, compare=compare
        )
        return plan.table() if dry_run else self.run_sync(plan, progress, cluster=cluster)
