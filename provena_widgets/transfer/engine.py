"""The transfer engine: runs planned file tasks against one dataset's bucket.

Three request paths share the work: botocore's client (listing, multipart uploads, and
everything when the CRT is off), a second botocore client for ranged GETs (it leaves checksums of
ranges to us), and the AWS CRT for whole small files and the ranged parts of large downloads.
:mod:`.scheduler` runs the tasks on two thread pools, one for whole files and one for parts;
:mod:`.uploads`, :mod:`.downloads` and :mod:`.copies` (server-side copies and moves) hold the steps of
each direction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ProvenaWidgetsError
from .cancel import CancelToken
from .copies import CopySteps
from .crt import CrtRequests
from .downloads import DownloadSteps
from .journal import Journal
from .metering import meter_bodies_when_sent
from .plan import FileTask
from .progress import ProgressCallback
from .report import Direction, TransferReport
from .scheduler import Execution, Steps
from .settings import TransferSettings, resolve_checksum
from .uploads import UploadSteps

__all__ = ["CancelToken", "ErrorTranslator", "TransferEngine", "TransferSettings"]

ErrorTranslator = Callable[[BaseException, str, str], ProvenaWidgetsError]
STEPS: dict[Direction, Callable[[Execution], Steps]] = {
    "upload": UploadSteps,
    "download": DownloadSteps,
    "copy": CopySteps,
    "move": CopySteps,
}


class TransferEngine:
    """Executes planned file tasks on one bucket (thread-safe; one per store)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        translate: ErrorTranslator,
        settings: TransferSettings | None = None,
        endpoint: str = "",
        ranged_client: Any = None,
        crt: CrtRequests | None = None,
    ) -> None:
        self.client = client
        self.ranged_client = ranged_client or client
        self.crt = crt
        self.bucket = bucket
        self.translate = translate
        self.settings = settings or TransferSettings()
        self.endpoint = endpoint
        self.journal = Journal(self.settings.journal_dir)
        self.checksum = resolve_checksum(self.settings.checksum)
        meter_bodies_when_sent(self.client)

    def run(
        self,
        direction: Direction,
        tasks: list[FileTask],
        progress: ProgressCallback | None,
        cancel: CancelToken,
    ) -> TransferReport:
        """Run every task; return the report. Raises the first fatal error, report attached, and
        after the rest has run, an ``IntegrityError`` if any file arrived damaged twice."""
        return Execution(self, direction, tasks, progress, cancel, STEPS[direction]).run()
