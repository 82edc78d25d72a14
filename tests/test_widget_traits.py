"""Widget state as traits: observed, set from code and linked, against the real S3 server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets
from conftest import write_tree
from test_filetable import Page

from provena_widgets import (
    CredentialPanel,
    Credentials,
    DatasetLocation,
    DatasetStore,
    RemoteBrowser,
    TransferPanel,
    TransferReport,
)
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.widgets.common import StatusLine

FILES = ["README.txt", "data/temperature.csv", "data/raw/logger-01.csv", "images/map.txt"]


def plant(admin: Any, location: DatasetLocation, keys: list[str]) -> None:
    for key in keys:
        admin.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=key.encode())


def record(widget: widgets.Widget, name: str) -> list[Any]:
    """Every new value of the trait ``name``, in order (from any thread)."""
    seen: list[Any] = []
    widget.observe(lambda change: seen.append(change["new"]), names=name)
    return seen


def shown_names(browser: RemoteBrowser) -> list[str]:
    return [entry.name for entry in browser.entries]


def crumb_labels(browser: RemoteBrowser) -> list[str]:
    return [crumb.description for crumb in browser.crumbs.children]


def test_setting_path_from_code_opens_the_folder(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, FILES)
    browser = RemoteBrowser(store)
    browser.wait()
    paths = record(browser, "path")
    browser.path = "data"
    assert browser.path == "data/" and paths == ["data/"]
    assert crumb_labels(browser) == [location.name, "data"] and not browser.up_button.disabled
    browser.wait()
    assert shown_names(browser) == ["raw", "temperature.csv"]
    assert browser.status.level == "ok" and browser.status.text == "2 items in data/."
    browser.path = "data/raw/"
    browser.wait()
    assert shown_names(browser) == ["logger-01.csv"]
    assert crumb_labels(browser) == [location.name, "data", "raw"]
    browser.crumbs.children[0].click()
    browser.wait()
    assert browser.path == "" and shown_names(browser) == ["data", "images", "README.txt"]
    assert paths == ["data/", "data/raw/", ""]


def test_a_path_outside_the_dataset_or_missing_shows_the_error_and_reverts(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, FILES)
    browser = RemoteBrowser(store)
    browser.path = "data/"
    browser.wait()
    paths = record(browser, "path")
    browser.path = "../other-dataset/"
    assert browser.path == "data/" and paths == []  # refused before it changed
    assert browser.status.level == "error" and "outside the dataset" in browser.status.text
    browser.path = "no-such-folder"
    assert crumb_labels(browser) == [location.name, "no-such-folder"]
    browser.wait()
    assert paths == ["no-such-folder/", "data/"]
    assert browser.status.level == "error" and "does not exist" in browser.status.text
    assert "\n" not in browser.status.text and "Traceback" not in browser.status.value
    assert shown_names(browser) == ["raw", "temperature.csv"]  # the folder still shown
    assert crumb_labels(browser) == [location.name, "data"]


def test_only_the_last_of_quick_navigations_is_shown(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, FILES)
    browser = RemoteBrowser(store)
    for path in ("images/", "missing/", "data/raw/", "missing-too/", "data/"):
        browser.path = path
    browser.wait()
    assert browser.path == "data/" and shown_names(browser) == ["raw", "temperature.csv"]
    assert browser.status.level == "ok" and not browser.loading


def test_linked_browsers_keep_in_step(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, admin: Any
) -> None:
    plant(admin, location, FILES)
    left, right = (
        RemoteBrowser(DatasetStore(credentials, location, endpoint_url=s3_server.endpoint_url))
        for _ in range(2)
    )
    link = widgets.link((left, "path"), (right, "path"))
    left.path = "data"
    assert right.path == "data/"
    left.wait()
    right.wait()
    assert shown_names(right) == shown_names(left) == ["raw", "temperature.csv"]
    Page(right.table).act("open", "raw/")  # a double-click on the folder
    right.wait()
    left.wait()
    assert left.path == "data/raw/" and shown_names(left) == ["logger-01.csv"]
    left.up_button.click()
    left.wait()
    right.wait()
    assert right.path == "data/" and crumb_labels(right) == [location.name, "data"]
    right.path = "gone/"
    right.wait()
    left.wait()
    assert left.path == right.path == "data/"  # the failed folder reverted on both sides
    link.unlink()


def test_selection_sort_filter_and_page_are_traits(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, [*FILES, "b.csv", "big.csv"])
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "big.csv", Body=b"x" * 5000)
    browser = RemoteBrowser(store)
    browser.wait()
    page = Page(browser.table)
    selections = record(browser, "selected")
    page.click("b.csv")
    page.click("README.txt", "toggle")  # Ctrl-click
    assert browser.selected == ["b.csv", "README.txt"]
    browser.selected = ["big.csv", "not-shown.csv"]
    assert browser.selected == ["big.csv"] and browser.table.selected == ["big.csv"]
    browser.selected = []
    assert selections == [["b.csv"], ["b.csv", "README.txt"], ["big.csv"], []]

    browser.sort_key = "size"
    browser.sort_reverse = True
    assert shown_names(browser)[2:] == ["big.csv", "README.txt", "b.csv"]
    assert [row["id"] for row in page.rows(0, 3)] == ["data/", "images/", "big.csv"]
    page.header("name")
    assert (browser.sort_key, browser.sort_reverse) == ("name", False)

    browser.pattern = "*.CSV"
    assert browser.filter.value == "*.CSV" and shown_names(browser) == ["b.csv", "big.csv"]
    browser.filter.value = "read*"  # typing in the box sets the trait
    assert browser.pattern == "read*" and [row["id"] for row in page.rows(0, 9)] == ["README.txt"]


def test_page_is_a_trait_that_scrolls_the_table(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    plant(admin, location, [f"f{i:03d}" for i in range(230)])
    browser = RemoteBrowser(store)
    browser.wait()
    page = Page(browser.table)
    pages = record(browser, "page")
    browser.page = 1
    assert page.replies()[-1] == {"type": "scroll", "index": 200}
    browser.page = 7
    assert browser.page == 1
    browser.pattern = "f00*"
    browser.page = 1
    assert browser.page == 0 and browser.table.total == 10
    assert pages == [1, 0]


def test_connected_and_on_connect_follow_the_store_trait(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation
) -> None:
    panel = CredentialPanel(credentials, location, endpoint_url=s3_server.endpoint_url)
    connected = record(panel, "connected")
    stores = record(panel, "store")
    given: list[DatasetStore] = []
    panel.on_connect(given.append)
    panel.connect_button.click()
    panel.wait()
    assert panel.connected and connected == [True]
    assert isinstance(panel.store, DatasetStore) and stores == given == [panel.store]
    browser = RemoteBrowser()
    widgets.dlink((panel, "store"), (browser, "store"))
    browser.wait()
    assert browser.store is panel.store and browser.status.text == "0 items in the dataset folder."
    panel.close()


def test_transfer_busy_and_report_are_observable(store: DatasetStore, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "results", {"a.csv": b"1", "b.csv": b"2"})
    browser = RemoteBrowser(store)
    panel = TransferPanel(browser=browser, local_path=tmp_path)
    busy = record(panel, "busy")
    reports = record(panel, "report")
    panel.upload([source])
    panel.wait()
    assert busy == [True, False] and not panel.busy
    assert reports[-1] is panel.report and isinstance(panel.report, TransferReport)
    assert len(panel.report.transferred) == 2
    assert not panel.upload_button.disabled and panel.cancel_button.disabled
    browser.wait()  # a finished upload refreshes the browser
    assert shown_names(browser) == ["results"]


def test_status_line_level_and_text_are_traits() -> None:
    status = StatusLine()
    sent = record(status, "value")
    status.show("Loaded\n  3 items.", "ok")
    assert (status.level, status.text) == ("ok", "Loaded 3 items.")
    assert len(sent) == 1 and 'data-level="ok"' in sent[0] and "✔ Loaded 3 items." in sent[0]
    status.level = "error"
    assert 'data-level="error"' in status.value and "✖ Loaded 3 items." in status.value
    status.text = "<b>not bold</b>"
    assert "&lt;b&gt;not bold&lt;/b&gt;" in status.value
