"""The Explorer's file manager: every table action and drag-and-drop, as the page sends them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import remote_keys, tree_of, write_tree
from test_filetable import Page

from provena_widgets import Credentials, DatasetLocation, DatasetStore, Explorer
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.widgets.quicklook import preview_html

CSV = b"site,temp\nHeron,27.5\n<b>Lizard</b>,26.1\n"


def test_every_dataset_action_is_wired(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    for key, body in {"data/t.csv": CSV, "data/raw/a.bin": b"\x00" * 10, "notes.md": b"# hi\n"}.items():
        admin.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=body)
    explorer = Explorer(credentials, location, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    explorer.wait()
    browser, panel = explorer.browser, explorer.transfers
    page = Page(browser.table)
    page.act("open", "data/")
    explorer.wait()

    page.click("t.csv")  # selecting a file shows its quick look
    explorer.wait()
    look = browser.quicklook
    assert look.layout.display == "flex" and "shown whole" in look.note.value
    assert "<th " in look.content.value and "&lt;b&gt;Lizard&lt;/b&gt;" in look.content.value
    page.click("raw/")
    assert look.layout.display == "none"

    page.act("copy_path", "t.csv")
    assert "data/t.csv" in browser.details.body.value
    assert f"s3://{location.bucket}/{location.prefix}data/t.csv" in browser.details.body.value
    page.act("properties", "t.csv")
    explorer.wait()
    assert "ETag" in browser.details.body.value and f"{len(CSV)} B" in browser.details.body.value
    page.act("properties", "raw/")  # a folder: counted in the background
    explorer.wait()
    assert "Objects" in browser.details.body.value and ">1<" in browser.details.body.value

    page.act("move", "t.csv")
    prompt = browser.prompt
    assert prompt.layout.display == "flex" and prompt.folder.value == "data/"
    prompt.go_button.click()  # where it already is
    assert browser.status.level == "error" and "Already in data/" in browser.status.text
    prompt.folder.value = "../elsewhere/"
    prompt.go_button.click()
    assert browser.status.level == "error" and "\n" not in browser.status.text
    prompt.folder.value = "archive/2024"
    prompt.go_button.click()
    assert prompt.layout.display == "none"
    explorer.wait()
    assert panel.report is not None and panel.report.direction == "move", panel.status.text
    assert "archive/2024/t.csv" in remote_keys(admin, location)
    assert "data/t.csv" not in remote_keys(admin, location)
    assert browser.table.entry("t.csv") is None  # the browser refreshed after the move

    page.act("copy", "raw/")
    prompt.folder.value = "data/raw/deeper/"
    prompt.go_button.click()
    assert "cannot go into itself" in browser.status.text
    prompt.folder.value = ""
    prompt.go_button.click()
    explorer.wait()
    assert {"raw/a.bin", "data/raw/a.bin"} <= set(remote_keys(admin, location))

    page.act("download", "raw/")  # into the local pane's folder, through the transfer panel
    explorer.wait()
    assert tree_of(tmp_path / "raw") == {"a.bin": b"\x00" * 10}
    assert explorer.local.table.entry("raw/") is not None  # the local pane refreshed

    write_tree(tmp_path, {"up.txt": b"hello"})
    explorer.local.refresh()
    explorer.wait()
    Page(explorer.local.table).click("up.txt")
    page.act("upload")  # Upload here: the local selection into the dataset folder shown
    explorer.wait()
    assert remote_keys(admin, location)["data/up.txt"] == 5


def test_drag_and_drop_uploads_downloads_and_moves(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    for key in ("in/a.csv", "in/b.csv", "box/keep.txt"):
        admin.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=key.encode())
    write_tree(tmp_path, {"mine.csv": b"1,2\n", "landing/x": b""})
    explorer = Explorer(credentials, location, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    explorer.wait()
    remote, local = explorer.browser.table, explorer.local.table
    dataset, kernel = Page(remote), Page(local)

    dataset.says(type="drop", source=local.table_id, names=["mine.csv"], value="in/")  # onto a folder row
    explorer.wait()
    assert remote_keys(admin, location)["in/mine.csv"] == 4

    dataset.says(type="drop", source=remote.table_id, names=["in/"], value="box/")  # within: a move
    explorer.wait()
    assert {key for key in remote_keys(admin, location) if key.startswith("box/in/")} == {
        "box/in/a.csv", "box/in/b.csv", "box/in/mine.csv"
    }  # fmt: skip
    assert not any(key.startswith("in/") for key in remote_keys(admin, location))

    kernel.says(type="drop", source=remote.table_id, names=["box/"], value="landing/")
    explorer.wait()
    assert (tmp_path / "landing/box/keep.txt").read_bytes() == b"box/keep.txt"

    kernel.says(type="drop", source="someone-else", names=["box/"], value="")  # another page's table
    kernel.says(type="drop", source=local.table_id, names=["mine.csv"], value="landing/")
    assert explorer.local.status.level == "info" and (tmp_path / "mine.csv").exists()


def test_local_pane_offers_only_what_it_does(tmp_path: Path) -> None:
    from provena_widgets.widgets import LocalBrowser

    write_tree(tmp_path, {"a.txt": b"a"})
    local = LocalBrowser(root=tmp_path, start=tmp_path)
    local.wait()
    page = Page(local.table)
    assert set(local.table.actions) == {"open", "up", "download", "upload", "rename", "mkdir", "copy_path"}
    page.act("mkdir", value="new")
    local.wait()
    page.act("rename", "a.txt", value="b.txt")
    local.wait()
    assert (tmp_path / "new").is_dir() and (tmp_path / "b.txt").read_bytes() == b"a"
    page.act("rename", "b.txt", value="new")  # taken: refused, one line
    local.wait()
    assert local.status.level == "error" and "already exists" in local.status.text
    page.act("delete", "b.txt")  # not offered here: nothing happens
    local.wait()
    assert (tmp_path / "b.txt").exists()
    page.act("copy_path", "b.txt")
    assert str(tmp_path / "b.txt") in local.details.body.value


def test_preview_html_escapes_and_says_when_cut() -> None:
    from provena_widgets import Preview
    from provena_widgets.widgets.quicklook import preview_note

    table = Preview("a.csv", "table", 5_000_000, True, rows=[["<h>"], ["x&y"], ["z"]])
    assert "&lt;h&gt;" in preview_html(table) and "x&amp;y" in preview_html(table)
    assert preview_note(table) == "5.0 MB: the first 2 rows."
    text = Preview("a.md", "text", 10, False, text="<script>\n")
    assert "&lt;script&gt;" in preview_html(text) and preview_note(text) == "10 B, shown whole."
    binary = Preview("a.bin", "binary", 10, False, mime="application/<x>")
    assert "application/&lt;x&gt;" in preview_html(binary)


def test_once_connected_the_explorer_offers_this_computer_for_the_folder_shown(
    s3_server: Any, credentials: Any, location: Any, tmp_path: Path
) -> None:
    """On a hub the kernel's files are not the user's: uploads from and downloads to the
    browser's computer follow the dataset pane's folder and selection."""
    store = DatasetStore(credentials, location, endpoint_url=s3_server.endpoint_url)
    store.upload([write_tree(tmp_path / "src", {"data/a.csv": b"x,y\n"}) / "data"], progress=None)
    explorer = Explorer(credentials, location, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    explorer.wait(60)
    assert explorer.computer is not None and explorer.computer.target == ""
    explorer.browser.path = "data/"
    explorer.wait(60)
    assert explorer.computer.target == "data/"
    explorer.browser.table.selected = ["a.csv"]  # what a click in the table does
    assert explorer.computer.selected == ["data/a.csv"]
