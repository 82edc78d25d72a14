"""Sizes, durations and rates as people read them."""

from __future__ import annotations


def format_bytes(count: float) -> str:
    """``1536`` -> ``'1.5 KB'`` (powers of 1000, as file managers show)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_rate(bytes_per_second: float) -> str:
    """``2_500_000`` -> ``'2.5 MB/s'``."""
    return f"{format_bytes(bytes_per_second)}/s"


def format_duration(seconds: float) -> str:
    """``75`` -> ``'1:15'``; ``3675`` -> ``'1:01:15'``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
