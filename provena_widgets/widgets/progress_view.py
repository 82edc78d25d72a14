"""What the transfer panel shows, as pure functions: the progress line, files in flight, the log."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..transfer.plan import Conflict
from ..transfer.progress import TransferProgress
from ..units import format_bytes, format_duration, format_rate

ACTIVE_ROWS = 3


def progress_line(event: TransferProgress) -> str:
    """``"3/10 files · 1.5 MB of 4.0 MB · 2.0 MB/s, 0:02 left"`` (no time left once done)."""
    eta = event.eta
    eta_text = f", {format_duration(eta)} left" if eta is not None and not event.done else ""
    return (
        f"{event.files_done}/{event.files_total} files · {format_bytes(event.bytes_done)} of "
        f"{format_bytes(event.bytes_total)} · {format_rate(event.rate)}{eta_text}"
    )


def active_files_html(event: TransferProgress, rows: int = ACTIVE_ROWS) -> str:
    """A small progress bar per file in flight, the first ``rows`` of them."""
    return "".join(
        f'<div class="provena-file"><progress value="{item.fraction:.3f}" max="1"></progress> '
        f"{html.escape(item.path)} ({format_bytes(item.bytes_done)} of {format_bytes(item.size)})</div>"
        for item in event.active[:rows]
    )


def log_html(lines: Sequence[str]) -> str:
    """The log lines as preformatted, escaped text."""
    return "<pre>" + html.escape("\n".join(lines)) + "</pre>"


def conflict_question(conflict: Conflict) -> str:
    """The "this file exists: replace it?" question, with both sides' sizes and the existing one's time."""
    existing = f"{format_bytes(conflict.existing_size)}, modified {conflict.existing_modified:%Y-%m-%d %H:%M}"
    return (
        f"<b>{html.escape(conflict.destination)}</b> already exists ({existing}). "
        f"Replace it with {html.escape(conflict.source)} ({format_bytes(conflict.source_size)})?"
    )
