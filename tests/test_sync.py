"""sync_up / sync_down: previews, every state, globs, deletion and the metadata.json rule."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import remote_keys, tree_of, write_tree

from provena_widgets import DatasetLocation, DatasetStore, LocalPathError, OutsideDataset
from provena_widgets.sync import Filter


def put(admin: Any, location: DatasetLocation, key: str, body: bytes) -> None:
    admin.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=body)


def states(plan: Any) -> dict[str, tuple[str, str]]:
    return {item.path: (item.state, item.action) for item in plan.items}


@pytest.fixture
def synced_once(store: DatasetStore, tmp_path: Path) -> Path:
    """A local folder uploaded once, then changed: one new, one changed, one unchanged file."""
    local = write_tree(tmp_path / "local", {"same.csv": b"1", "edit.csv": b"old", "sub/deep.csv": b"d"})
    store.sync_up(local, "proj/", progress=None)
    (local / "edit.csv").write_bytes(b"new content")
    (local / "added.csv").write_bytes(b"+")
    return local


def test_sync_up_preview_classifies_every_file_and_changes_nothing(
    store: DatasetStore, admin: Any, location: DatasetLocation, synced_once: Path
) -> None:
    put(admin, location, "proj/only-remote.csv", b"r")
    before = remote_keys(admin, location)
    table = store.sync_up(synced_once, "proj/", dry_run=True)
    assert isinstance(table, pd.DataFrame)
    rows = {row.path: (row.state, row.action) for row in table.itertuples()}
    assert rows == {
        "added.csv": ("new", "upload"),
        "edit.csv": ("changed", "upload"),
        "same.csv": ("unchanged", "skip"),
        "sub/deep.csv": ("unchanged", "skip"),
        "only-remote.csv": ("extra", "keep"),
    }
    assert table.set_index("path").loc["edit.csv", "source_size"] == len(b"new content")
    assert remote_keys(admin, location) == before


def test_sync_up_transfers_and_deletes_extras_only_when_asked(
    store: DatasetStore, admin: Any, location: DatasetLocation, synced_once: Path
) -> None:
    put(admin, location, "proj/only-remote.csv", b"r")
    report = store.sync_up(synced_once, "proj/", progress=None)
    assert sorted(Path(r.source).name for r in report.transferred) == ["added.csv", "edit.csv"]
    assert "proj/only-remote.csv" in remote_keys(admin, location)  # delete=False by default
    report = store.sync_up(synced_once, "proj/", delete=True, progress=None)
    assert report.transferred == [] and report.deleted == ["proj/only-remote.csv"]
    assert sorted(remote_keys(admin, location)) == [
        "proj/added.csv", "proj/edit.csv", "proj/same.csv", "proj/sub/deep.csv",
    ]  # fmt: skip


def test_a_previewed_plan_runs_in_the_background_as_previewed(
    store: DatasetStore, admin: Any, location: DatasetLocation, synced_once: Path
) -> None:
    put(admin, location, "proj/only-remote.csv", b"r")
    plan = store.plan_sync_up(synced_once, "proj/", delete=True)
    assert states(plan)["only-remote.csv"] == ("extra", "delete")
    report = store.start_sync(plan, progress=None).wait(60)
    assert sorted(Path(r.source).name for r in report.transferred) == ["added.csv", "edit.csv"]
    assert report.deleted == ["proj/only-remote.csv"]
    again = store.run_sync(store.plan_sync_up(synced_once, "proj/", delete=True), progress=None)
    assert again.transferred == [] and again.deleted == []


def test_metadata_json_is_never_uploaded_over_or_deleted_by_sync(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    put(admin, location, "metadata.json", b'{"provena": 1}')
    local = write_tree(tmp_path / "local", {"metadata.json": b"{}", "a.csv": b"a"})
    plan = store.plan_sync_up(local, delete=True)
    assert states(plan)["metadata.json"][1] == "skip" and "metadata.json" in plan.items[1].reason
    (local / "metadata.json").unlink()
    plan = store.plan_sync_up(local, delete=True)
    assert states(plan)["metadata.json"] == ("extra", "keep")
    store.sync_up(local, delete=True, progress=None)
    body = admin.get_object(Bucket=location.bucket, Key=location.prefix + "metadata.json")["Body"].read()
    assert body == b'{"provena": 1}'
    sub = store.plan_sync_up(local, "sub/", delete=True)  # only the root one is Provena's
    assert sub.items == [] or all(item.path != "metadata.json" for item in sub.items)


def test_sync_down_states_deletes_and_keeps_metadata(
    store: DatasetStore, admin: Any, location: DatasetLocation, tmp_path: Path
) -> None:
    for key, body in {"d/a.csv": b"a", "d/b.csv": b"b", "d/metadata.json": b"{}"}.items():
        put(admin, location, key, body)
    out = tmp_path / "out"
    report = store.sync_down("d/", out, progress=None)
    assert tree_of(out) == {"a.csv": b"a", "b.csv": b"b", "metadata.json": b"{}"}
    assert len(report.transferred) == 3
    put(admin, location, "d/b.csv", b"bb")
    (out / "local-only.txt").write_text("x")
    (out / "metadata.json").unlink()
    (out / "metadata.json").write_text("{}")  # same size, touched now: not older than the server's
    plan = store.plan_sync_down("d/", out, delete=True)
    assert states(plan) == {
        "a.csv": ("unchanged", "skip"),
        "b.csv": ("changed", "download"),
        "local-only.txt": ("extra", "delete"),
        "metadata.json": ("unchanged", "skip"),
    }
    report = store.sync_down("d/", out, delete=True, progress=None)
    assert report.deleted == ["local-only.txt"] and (out / "b.csv").read_bytes() == b"bb"
    again = store.plan_sync_down("d/", out)
    assert {item.state for item in again.items} == {"unchanged"}


def test_sync_down_time_comparison_uses_the_files_own_time(store: DatasetStore, tmp_path: Path) -> None:
    old = time.time() - 86_400
    local = write_tree(tmp_path / "up", {"t.csv": b"time"})
    os.utime(local / "t.csv", (old, old))
    store.sync_up(local, "t/", progress=None)
    out = tmp_path / "down"
    store.sync_down("t/", out, progress=None)
    assert abs((out / "t.csv").stat().st_mtime - old) < 1
    assert states(store.plan_sync_down("t/", out)) == {"t.csv": ("unchanged", "skip")}
    assert states(store.plan_sync_up(local, "t/")) == {"t.csv": ("unchanged", "skip")}


def test_checksum_comparison_sees_same_size_edits(store: DatasetStore, tmp_path: Path) -> None:
    local = write_tree(tmp_path / "local", {"x.bin": b"AAAA", "y.bin": b"BBBB"})
    store.sync_up(local, progress=None)
    (local / "x.bin").write_bytes(b"ZZZZ")
    past = time.time() - 86_400
    os.utime(local / "x.bin", (past, past))  # an edit that time comparison cannot see
    assert states(store.plan_sync_up(local))["x.bin"] == ("unchanged", "skip")
    assert states(store.plan_sync_up(local, compare="checksum")) == {
        "x.bin": ("changed", "upload"),
        "y.bin": ("unchanged", "skip"),
    }


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (None, None, {"a.csv", "b.txt", "raw/c.csv", "raw/tmp/d.csv"}),
        ("*.csv", None, {"a.csv", "raw/c.csv", "raw/tmp/d.csv"}),
        (None, "*.csv", {"b.txt"}),
        ("*.csv", "raw/tmp/*", {"a.csv", "raw/c.csv"}),
        (["raw/*", "*.txt"], ["*.csv"], {"b.txt"}),  # exclude wins
        (["*.txt", "raw/*"], ["*.csv"], {"b.txt"}),  # order does not matter
        ("raw/*", None, {"raw/c.csv", "raw/tmp/d.csv"}),
    ],
)
def test_globs_are_order_independent_and_exclude_wins(
    store: DatasetStore, tmp_path: Path, include: Any, exclude: Any, expected: set[str]
) -> None:
    local = write_tree(
        tmp_path / "g", {"a.csv": b"1", "b.txt": b"2", "raw/c.csv": b"3", "raw/tmp/d.csv": b"4"}
    )
    plan = store.plan_sync_up(local, "g/", include=include, exclude=exclude)
    assert {item.path for item in plan.items} == expected
    rules = Filter.of(include, exclude)
    assert {p for p in ("a.csv", "b.txt", "raw/c.csv", "raw/tmp/d.csv") if rules.accepts(p)} == expected


def test_sync_refuses_bad_folders(store: DatasetStore, tmp_path: Path) -> None:
    with pytest.raises(LocalPathError):
        store.sync_up(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(LocalPathError):
        store.sync_down("", tmp_path / "file")
    with pytest.raises(OutsideDataset):
        store.sync_up(tmp_path, "../elsewhere/")
