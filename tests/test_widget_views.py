"""What the widgets show, as pure functions: no widgets, no server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from provena_widgets import Conflict, Entry, FileProgress, OutsideDataset, TransferProgress
from provena_widgets.widgets import listing_view as view
from provena_widgets.widgets.progress_view import (
    active_files_html,
    conflict_question,
    log_html,
    progress_line,
)

DAY1 = datetime(2024, 1, 1, 9, 30, tzinfo=timezone.utc)
DAY2 = datetime(2024, 2, 1, 9, 30, tzinfo=timezone.utc)


def folder(name: str) -> Entry:
    return Entry(name, f"{name}/", True, 0, None)


def file(name: str, size: int, modified: datetime | None = DAY1) -> Entry:
    return Entry(name, name, False, size, modified)


LISTING = [file("b.csv", 20, DAY2), folder("zeta"), file("A.txt", 5), file("big.CSV", 900), folder("alpha")]


def names(entries: list[Entry] | tuple[Entry, ...]) -> list[str]:
    return [entry.name for entry in entries]


def test_folder_path_normalises_and_refuses_ways_out() -> None:
    assert [view.folder_path(p) for p in ("", ".", "data", "data/", "./data/raw/", "a/../b")] == [
        "",
        "",
        "data/",
        "data/",
        "data/raw/",
        "b/",
    ]
    for outside in ("..", "../other", "/etc/", "a/../../b"):
        with pytest.raises(OutsideDataset):
            view.folder_path(outside)


def test_parent_folder_and_crumbs() -> None:
    assert [view.parent_folder(p) for p in ("", "data/", "data/raw/")] == ["", "", "data/"]
    assert view.crumbs("10378-1-1", "") == [("10378-1-1", "")]
    assert view.crumbs("10378-1-1", "data/raw/") == [
        ("10378-1-1", ""),
        ("data", "data/"),
        ("raw", "data/raw/"),
    ]


def test_filter_is_a_case_insensitive_glob_and_blank_keeps_all() -> None:
    assert names(view.filter_entries(LISTING, "*.csv")) == ["b.csv", "big.CSV"]
    assert names(view.filter_entries(LISTING, " A* ")) == ["A.txt", "alpha"]
    assert view.filter_entries(LISTING, "  ") == LISTING
    assert view.filter_entries(LISTING, "nothing-like-it") == []


def test_sort_keeps_folders_first_in_either_direction() -> None:
    assert names(view.sort_entries(LISTING, "name")) == ["alpha", "zeta", "A.txt", "b.csv", "big.CSV"]
    assert names(view.sort_entries(LISTING, "name", descending=True)) == [
        "zeta",
        "alpha",
        "big.CSV",
        "b.csv",
        "A.txt",
    ]
    assert names(view.sort_entries(LISTING, "size"))[2:] == ["A.txt", "b.csv", "big.CSV"]
    undated = file("undated", 1, modified=None)
    assert names(view.sort_entries([*LISTING, undated], "modified", descending=True))[2:] == [
        "b.csv",
        "A.txt",
        "big.CSV",
        "undated",
    ]


def test_pages_clamp() -> None:
    assert [view.clamp_page(i, 450) for i in (-1, 0, 2, 3)] == [0, 0, 2, 2]
    assert view.page_count(0) == 1 and view.page_count(200) == 1 and view.page_count(201) == 2


def test_delete_question_and_summaries() -> None:
    question = view.delete_question(["a.csv", "<b>/"], 1536, counted=False)
    assert question.startswith("<b>Delete 2 item(s) for good?</b> 1.5 KB in files; counting what the")
    assert "<li>a.csv</li><li>&lt;b&gt;/ (and everything in it)</li>" in question
    many = view.delete_question([f"f{i}" for i in range(25)], 0, counted=True)
    assert many.count("<li>") == 21 and "... and 5 more" in many and "</b> 0 B in all.<ul>" in many
    assert view.folder_summary(1, "data/") == "1 item in data/."
    assert view.folder_summary(0, "the dataset folder") == "0 items in the dataset folder."


def test_progress_line_shows_files_bytes_rate_and_time_left() -> None:
    running = TransferProgress("upload", 3, 10, 1_500_000, 4_000_000, 1.0, 1_000_000.0)
    assert progress_line(running) == "3/10 files · 1.5 MB of 4.0 MB · 1.0 MB/s, 0:02 left"
    unknown_rate = TransferProgress("download", 0, 2, 0, 10, 0.0, 0.0)
    assert progress_line(unknown_rate) == "0/2 files · 0 B of 10 B · 0 B/s"
    done = TransferProgress("upload", 10, 10, 4_000_000, 4_000_000, 4.0, 1_000_000.0, done=True)
    assert not progress_line(done).endswith("left")


def test_files_in_flight_and_log_are_escaped_html() -> None:
    active = tuple(FileProgress(f"<f{i}>.csv", 50, 100) for i in range(5))
    event = TransferProgress("upload", 0, 5, 250, 500, 1.0, 250.0, active=active)
    shown = active_files_html(event)
    assert shown.count('class="provena-file"') == 3 and "&lt;f0&gt;.csv" in shown and "<f0>" not in shown
    assert 'value="0.500"' in shown and "(50 B of 100 B)" in shown
    assert active_files_html(event, rows=5).count("<progress") == 5
    assert log_html(["a -> <b>", "c"]) == "<pre>a -&gt; &lt;b&gt;\nc</pre>"


def test_conflict_question_names_both_sides() -> None:
    conflict = Conflict("local/<a>.csv", "data/a.csv", 2048, DAY2, 999, DAY1)
    question = conflict_question(conflict)
    assert "<b>data/a.csv</b> already exists (999 B, modified 2024-01-01 09:30)" in question
    assert "local/&lt;a&gt;.csv (2.0 KB)" in question
