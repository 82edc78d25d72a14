"""Sizes, durations and rates as the widgets and text progress show them."""

from __future__ import annotations

import pytest

from provena_widgets.units import format_bytes, format_duration, format_rate


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1536, "1.5 KB"),
        (2_500_000, "2.5 MB"),
        (3e12, "3.0 TB"),
        (5e15, "5000.0 TB"),
    ],
)
def test_sizes_use_powers_of_1000(count: float, text: str) -> None:
    assert format_bytes(count) == text


def test_rates_are_sizes_per_second() -> None:
    assert format_rate(2_500_000) == "2.5 MB/s"


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (75.4, "1:15"), (3675, "1:01:15")])
def test_durations_show_hours_only_when_there_are_some(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
