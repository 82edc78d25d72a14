"""FileTable's model: rows on demand, sort, filter, selection and actions, as the page drives them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conftest import remote_keys, write_tree

from provena_widgets import DatasetLocation, DatasetStore
from provena_widgets.store import Entry
from provena_widgets.widgets import LocalBrowser, RemoteBrowser
from provena_widgets.widgets.filetable import MAX_ROWS, FileTable

DAY1 = datetime(2024, 1, 1, 9, 30, tzinfo=timezone.utc)
JS = Path(__file__).resolve().parent.parent / "provena_widgets/widgets/table/filetable.js"


class Page:
    """The page's side of one table: what it receives from the kernel, and what it sends."""

    def __init__(self, table: FileTable) -> None:
        self.table = table
        self.received: list[dict[str, Any]] = []  # every comm message: trait updates and replies
        table.comm.send = lambda data=None, buffers=None, **_: self.received.append(data or {})

    def says(self, **content: Any) -> None:
        self.table._handle_custom_msg(content, [])

    def replies(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.received if m.get("method") == "custom"]

    def rows(self, start: int, count: int) -> list[dict[str, Any]]:
        self.says(type="rows", start=start, count=count)
        reply = self.replies()[-1]
        assert reply["start"] == start and reply["generation"] == self.table.generation
        rows: list[dict[str, Any]] = reply["rows"]
        return rows

    def click(self, name: str, mode: str = "only") -> None:
        index = [row["id"] for row in self.rows(0, MAX_ROWS)].index(name)
        self.says(type="select", index=index, mode=mode)

    def act(self, action: str, *names: str, value: str | None = None) -> None:
        self.says(type="action", action=action, names=list(names), value=value)

    def header(self, key: str) -> None:
        """A click on a column header: the page sets the sort traits, as filetable.js does."""
        table = self.table
        reverse = not table.sort_reverse if table.sort_key == key else False
        table.set_state({"sort_reverse": reverse, "sort_key": key})


def folder(name: str) -> Entry:
    return Entry(name, f"{name}/", True, 0, None)


def file(name: str, size: int, modified: datetime | None = DAY1) -> Entry:
    return Entry(name, name, False, size, modified)


LISTING = [file("b.csv", 20), folder("zeta"), file("A.txt", 1536), file("big.CSV", 900), folder("alpha")]


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def test_rows_come_on_demand_folders_first_with_human_sizes() -> None:
    table = FileTable()
    page = Page(table)
    table.show(LISTING)
    assert table.total == 5 and page.replies() == []  # nothing is pushed before it is asked for
    rows = page.rows(0, 100)
    assert ids(rows) == ["alpha/", "zeta/", "A.txt", "b.csv", "big.CSV"]
    assert rows[0] == {"id": "alpha/", "dir": True, "size": "", "modified": None}
    assert rows[2] == {"id": "A.txt", "dir": False, "size": "1.5 KB", "modified": 1704101400000}
    assert ids(page.rows(3, 100)) == ["b.csv", "big.CSV"] and page.rows(9, 100) == []
    assert table.entry("zeta/") == folder("zeta") and table.entry("zeta") is None


def test_sort_and_filter_change_the_rows_and_tell_the_page() -> None:
    table = FileTable()
    page = Page(table)
    table.show(LISTING)
    generation = table.generation
    table.sort_key, table.sort_reverse = "size", True
    assert ids(page.rows(0, 10))[2:] == ["A.txt", "big.CSV", "b.csv"] and table.generation > generation
    table.pattern = "*.csv"
    assert table.total == 2 and ids(page.rows(0, 10)) == ["big.CSV", "b.csv"]
    updates = [m["state"] for m in page.received if m.get("method") == "update"]
    assert any(update.get("total") == 2 for update in updates)


def test_selection_follows_the_page_and_python() -> None:
    table = FileTable()
    page = Page(table)
    table.show(LISTING)
    page.click("zeta/")
    assert table.selected == ["zeta/"]
    page.click("b.csv", "range")  # Shift-click: from the last click to here
    assert table.selected == ["zeta/", "A.txt", "b.csv"]
    page.click("A.txt", "toggle")  # Ctrl-click takes one out, and moves the anchor
    assert table.selected == ["zeta/", "b.csv"]
    page.click("big.CSV", "range")
    assert table.selected == ["A.txt", "b.csv", "big.CSV"]
    page.says(type="select", index=0, mode="all")
    assert table.selected == ["alpha/", "zeta/", "A.txt", "b.csv", "big.CSV"]

    table.selected = ["b.csv", "not-here.csv", "b.csv"]  # from code: only what is shown, once
    assert table.selected == ["b.csv"]
    synced = [m["state"]["selected"] for m in page.received if "selected" in m.get("state", {})]
    assert synced[-1] == ["b.csv"]
    table.pattern = "*.txt"  # what the filter hides leaves the selection
    assert table.selected == []


def test_actions_reach_every_callback_with_names_and_value() -> None:
    table = FileTable()
    page = Page(table)
    table.show(LISTING)
    heard: list[tuple[str, list[str], str | None]] = []
    table.on_action(lambda *args: heard.append(args))
    page.says(type="action", action="rename", names=["b.csv"], value="c.csv")
    page.says(type="action", action="delete", names=["zeta/", "A.txt"], value=None)
    page.says(type="action", action="up", names=[])
    page.says(type="action", action="format-disk", names=["A.txt"])  # not an action: ignored
    assert heard == [("rename", ["b.csv"], "c.csv"), ("delete", ["zeta/", "A.txt"], None), ("up", [], None)]


def test_every_menu_entry_and_action_of_the_page_is_one_python_knows() -> None:
    from provena_widgets.widgets.filetable import ACTIONS

    source = JS.read_text()
    for label in ("Download", "Upload here", "Rename", "Move to…", "Copy to…", "New folder", "Delete",
                  "Copy path", "Properties"):  # fmt: skip
        assert f'"{label}"]' in source
    menu_actions = source.split("const MENU = [")[1].split("];")[0]
    assert {part.split('"')[1] for part in menu_actions.split("[")[1:]} | {"open", "up"} == set(ACTIONS)


def test_a_100000_entry_folder_shows_its_first_rows_fast_with_few_messages() -> None:
    table = FileTable()
    page = Page(table)
    entries = [file(f"file-{i:06d}.csv", i) for i in range(100_000)]
    started = time.perf_counter()
    table.show(entries)
    first = page.rows(0, 100)
    elapsed = time.perf_counter() - started
    assert ids(first)[:2] == ["file-000000.csv", "file-000001.csv"] and table.total == 100_000
    print(f"100,000 entries: first rows after {elapsed * 1000:.0f} ms, {len(page.received)} messages")
    assert elapsed < 0.5 and len(page.received) == 2  # one state update, one reply
    for start in range(0, 100_000, 10_000):  # scrolling: one reply per block asked for, bounded
        assert len(page.rows(start, 10_000)) == MAX_ROWS
    assert len(page.received) == 12
    assert max(len(str(m)) for m in page.received) < 100_000


def test_local_browser_starts_in_the_notebook_folder_and_stays_under_its_root(
    tmp_path: Path, monkeypatch: Any
) -> None:
    write_tree(tmp_path, {"project/a.csv": b"12345", "project/raw/b.csv": b"1", "other.txt": b""})
    monkeypatch.chdir(tmp_path / "project")
    browser = LocalBrowser(root=tmp_path)
    browser.wait()
    assert browser.path == "project/" and browser.folder == tmp_path / "project"
    assert [crumb.description for crumb in browser.crumbs.children] == [str(tmp_path), "project"]
    page = Page(browser.table)
    assert page.rows(0, 9)[0]["id"] == "raw/" and page.rows(1, 9)[0]["size"] == "5 B"
    assert browser.status.text == f"2 items in {tmp_path / 'project'}."
    page.click("a.csv")
    page.click("raw/", "range")
    assert browser.selected == ["project/raw/", "project/a.csv"]
    page.act("open", "raw/")
    browser.wait()
    assert browser.path == "project/raw/" and [e.name for e in browser.entries] == ["b.csv"]
    assert browser.selected == []
    page.act("up")
    page.act("up")
    browser.wait()
    assert browser.path == "" and [e.name for e in browser.entries] == ["project", "other.txt"]
    browser.path = "../"
    assert browser.path == "" and "outside" in browser.status.text
    browser.path = "missing/"
    browser.wait()
    assert browser.path == "" and browser.status.level == "error"
    assert "cannot be listed" in browser.status.text
    anywhere = LocalBrowser(start=tmp_path)  # root "/": nothing is out of reach
    anywhere.wait()
    assert anywhere.path == str(tmp_path).lstrip("/") + "/" and len(anywhere.entries) == 2


def test_a_dataset_folder_pages_on_demand_and_its_actions_reach_the_hook(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    keys = [f"big/f{i:04d}.csv" for i in range(1200)] + ["big/sub/x.csv"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: admin.put_object(Bucket=location.bucket, Key=location.prefix + key), keys))
    browser = RemoteBrowser(store)
    browser.wait()
    page = Page(browser.table)
    started = time.perf_counter()
    browser.path = "big/"
    browser.wait()
    loaded = time.perf_counter() - started
    first = page.rows(0, 100)
    print(f"1,201 keys from S3: listed in {loaded * 1000:.0f} ms, {len(page.received)} messages")
    assert browser.table.total == 1201 and first[0]["id"] == "sub/" and first[1]["id"] == "f0000.csv"
    assert len(page.received) <= 12  # trait updates while loading, not a message per row or page
    assert [row["id"] for row in page.rows(1101, 500)][-1] == "f1199.csv"

    page.header("name")  # reverse by name: folders still first
    assert [row["id"] for row in page.rows(0, 2)] == ["sub/", "f1199.csv"]
    browser.pattern = "f00[01]*"
    assert browser.table.total == 20
    page.click("f0019.csv")
    page.click("f0015.csv", "range")
    assert browser.selected == [f"big/f{i:04d}.csv" for i in (19, 18, 17, 16, 15)]
    browser.selected = ["big/f0001.csv"]
    assert browser.table.selected == ["f0001.csv"]

    browser.pattern = ""
    heard: list[tuple[str, list[str], str | None]] = []
    browser.table.on_action(lambda *args: heard.append(args))
    page.act("rename", "f0001.csv", value="first.csv")  # F2, a new name, Enter
    page.act("copy_path", "f0001.csv")
    assert heard == [("rename", ["f0001.csv"], "first.csv"), ("copy_path", ["f0001.csv"], None)]
    browser.wait()
    assert browser.status.level == "ok"
    assert browser.table.entry("first.csv") is not None and browser.table.entry("f0001.csv") is None
    assert "big/first.csv" in remote_keys(admin, location)
    page.act("rename", "sub/", value="inner")  # a folder: its row id ends in /
    browser.wait()
    assert browser.table.entry("inner/") is not None and "big/inner/x.csv" in remote_keys(admin, location)
