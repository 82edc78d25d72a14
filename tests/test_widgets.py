"""The widgets driven as a user drives them (set values, click), against the real S3 server."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest
from conftest import remote_keys, tree_of, write_tree
from test_filetable import Page

from provena_widgets import (
    CredentialPanel,
    Credentials,
    DatasetLocation,
    DatasetStore,
    Explorer,
    RemoteBrowser,
    TransferPanel,
)
from provena_widgets.sandbox.s3server import LocalS3Server


def paste_block(creds: Credentials, location: DatasetLocation) -> str:
    return (
        f'export AWS_ACCESS_KEY_ID="{creds.access_key_id}"\n'
        f'export AWS_SECRET_ACCESS_KEY="{creds.secret_access_key}"\n'
        f'export AWS_SESSION_TOKEN="{creds.session_token}"\n\n'
        f"aws s3 ls {location.s3_uri}\n"
    )


def all_state(widget: widgets.Widget) -> str:
    """Everything the browser holds of ``widget`` and its descendants, as JSON text."""
    seen: dict[str, Any] = {}

    def visit(value: Any) -> None:
        if isinstance(value, widgets.Widget) and value.model_id not in seen:
            seen[value.model_id] = value.get_state()
            for name in value.keys:  # the synced traits; children are widgets in them, or lists of widgets
                item = getattr(value, name, None)
                for child in item if isinstance(item, (list, tuple)) else [item]:
                    visit(child)

    visit(widget)
    return json.dumps(seen, default=str)


def test_paste_fills_fields_connect_clears_secrets(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation
) -> None:
    panel = CredentialPanel()
    panel.endpoint.value = s3_server.endpoint_url
    panel.paste.value = paste_block(credentials, location)
    assert panel.paste.value == ""
    assert panel.access_key.value == credentials.access_key_id
    assert panel.dataset_path.value == location.s3_uri
    assert panel.status.level == "ok"
    assert credentials.session_token is not None
    for secret in (credentials.secret_access_key, credentials.session_token):
        assert secret not in all_state(panel)
    panel.connect_button.click()
    panel.wait()
    assert panel.status.level == "ok", panel.status.text
    assert isinstance(panel.store, DatasetStore)
    assert panel.store.credentials.secret_access_key == credentials.secret_access_key
    assert panel.store.credentials.session_token == credentials.session_token
    for secret in (credentials.secret_access_key, credentials.session_token):
        assert secret not in all_state(panel)
    assert "no expiry" in panel.expiry.text.lower()  # the bash block carries none
    panel.close()


def test_typed_fields_connect_and_errors_are_one_plain_line(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation
) -> None:
    panel = CredentialPanel(endpoint_url=s3_server.endpoint_url)
    panel.connect_button.click()
    panel.wait()
    assert panel.status.level == "error" and "paste" in panel.status.text.lower()
    panel.access_key.value = credentials.access_key_id
    panel.secret_key.value = "x" * 40
    panel.session_token.value = credentials.session_token or ""
    panel.dataset_path.value = location.winscp_path
    panel.connect_button.click()
    panel.wait()
    assert panel.status.level == "error" and "secret access key" in panel.status.text.lower()
    assert "Traceback" not in panel.status.value and "\n" not in panel.status.text
    assert getattr(panel, "store") is None  # noqa: B009 - keeps mypy from narrowing
    panel.secret_key.value = credentials.secret_access_key
    panel.dataset_path.value = "s3://rrap-storage-bucket/datasets/../x/"
    panel.connect_button.click()
    panel.wait()
    assert panel.status.level == "error" and ".." in panel.status.text
    panel.dataset_path.value = location.winscp_path
    panel.connect_button.click()
    panel.wait()
    assert panel.status.level == "ok" and panel.store is not None
    panel.close()


def test_expiry_warning_and_expired(credentials: Credentials) -> None:
    from datetime import timedelta

    panel = CredentialPanel(credentials)
    assert credentials.expiry is not None
    panel.update_expiry(now=credentials.expiry - timedelta(minutes=10))
    assert panel.expiry.level == "warning" and "expire in" in panel.expiry.text
    panel.update_expiry(now=credentials.expiry + timedelta(seconds=1))
    assert panel.expiry.level == "error" and "expired" in panel.expiry.text


def test_browser_navigates_sorts_filters_and_stays_in_the_dataset(
    store: DatasetStore, admin: Any, location: DatasetLocation
) -> None:
    for key, body in {
        "b.csv": b"22",
        "a.txt": b"1",
        "big.csv": b"x" * 5000,
        "sub/inner/x.csv": b"x",
        "metadata.json": b'{"x": 1}',
    }.items():
        admin.put_object(Bucket=location.bucket, Key=location.prefix + key, Body=body)
    browser = RemoteBrowser(store)
    browser.wait()
    page = Page(browser.table)
    assert [e.name for e in browser.entries] == ["sub", "a.txt", "b.csv", "big.csv", "metadata.json"]
    assert page.rows(0, 1) == [{"id": "sub/", "dir": True, "size": "", "modified": None}]
    page.header("size")
    assert [e.name for e in browser.entries][1:] == ["a.txt", "b.csv", "metadata.json", "big.csv"]
    page.header("size")
    assert [e.name for e in browser.entries][1] == "big.csv"
    browser.filter.value = "*.csv"
    assert {e.name for e in browser.entries} == {"b.csv", "big.csv"}
    browser.filter.value = ""
    assert browser.up_button.disabled
    page.act("open", "sub/")  # a double-click, or Enter
    browser.wait()
    assert browser.path == "sub/" and [e.name for e in browser.entries] == ["inner"]
    assert [c.description for c in browser.crumbs.children] == [location.name, "sub"]
    page.act("up")  # Backspace
    browser.wait()
    assert browser.path == ""
    page.act("up")  # nothing above the dataset folder
    assert browser.path == ""
    with pytest.raises(Exception, match="outside"):
        browser.open_folder("../other")
    page.act("mkdir", value="made-here")
    browser.wait()
    assert "made-here" in [e.name for e in browser.entries]
    page.act("delete", "a.txt", "sub/")
    browser.wait()  # the folders' contents are counted in the background
    question = browser.confirm.layout.display == "flex" and browser.confirm_text.value
    assert question and "sub/" in question and "for good?</b> 2 B in all." in question
    browser.keep_button.click()
    assert "a.txt" in remote_keys(admin, location)
    page.act("delete", "a.txt", "sub/")
    browser.confirm_button.click()
    browser.wait()
    assert sorted(remote_keys(admin, location)) == ["b.csv", "big.csv", "made-here/", "metadata.json"]
    page.act("delete", "metadata.json")
    assert browser.status.level == "error" and "metadata.json" in remote_keys(admin, location)


def test_browser_pages_large_folders(store: DatasetStore, admin: Any, location: DatasetLocation) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: admin.put_object(
                    Bucket=location.bucket, Key=f"{location.prefix}f{i:04d}", Body=b""
                ),
                range(450),
            )
        )
    browser = RemoteBrowser(store)
    browser.wait()
    page = Page(browser.table)
    assert browser.table.total == 450 and len(page.rows(0, 100)) == 100
    assert [row["id"] for row in page.rows(400, 100)] == [f"f{i:04d}" for i in range(400, 450)]


def test_explorer_upload_download_and_ask(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    explorer = Explorer(credentials, location, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    explorer.wait()
    assert explorer.store is not None and explorer.browser.store is explorer.store
    src = write_tree(tmp_path / "src", {"results/a.csv": b"1,2\n", "results/deep/b.csv": b"3\n"})
    panel = explorer.transfers
    panel.overwrite.value = "skip"
    panel.choose_local(src / "results")
    panel.upload_button.click()
    explorer.wait()
    assert panel.status.level == "ok", panel.status.text
    assert set(remote_keys(admin, location)) == {"results/a.csv", "results/deep/b.csv"}
    assert panel.total_bar.value == 1.0 and "2/2 files" in panel.total_label.value
    assert "results/a.csv" in panel.log_view.value
    assert [e.name for e in explorer.browser.entries] == ["results"]  # refreshed after upload

    (src / "results" / "a.csv").write_bytes(b"changed!\n")
    (src / "results" / "deep" / "b.csv").write_bytes(b"changed too\n")
    panel.overwrite.value = "ask"
    asked = threading.Event()

    def on_display(change: dict[str, Any]) -> None:
        if change["new"] == "flex":
            asked.set()

    panel.ask.layout.observe(on_display, names="display")
    panel.upload_button.click()
    assert asked.wait(60)
    assert "already exists" in panel.ask.text.value
    panel.ask.apply_all.value = True
    panel.ask.overwrite_button.click()
    explorer.wait()
    body = admin.get_object(Bucket=location.bucket, Key=location.prefix + "results/deep/b.csv")["Body"].read()
    assert body == b"changed too\n"

    out = tmp_path / "out"
    out.mkdir()
    explorer.local.path = out.as_posix().lstrip("/")  # downloads land in the local pane's folder
    explorer.wait()
    explorer.browser.selected = ["results/"]
    panel.download_button.click()
    panel.wait()
    assert panel.status.level == "ok", panel.status.text
    assert tree_of(out) == {"results/a.csv": b"changed!\n", "results/deep/b.csv": b"changed too\n"}


def test_transfer_errors_show_as_one_line(
    s3_server: LocalS3Server, read_credentials: Credentials, location: DatasetLocation, tmp_path: Path
) -> None:
    store = DatasetStore(read_credentials, location, endpoint_url=s3_server.endpoint_url)
    browser = RemoteBrowser(store)
    panel = TransferPanel(browser=browser, local_path=tmp_path)
    panel.download_button.click()
    assert panel.status.level == "error" and "select" in panel.status.text.lower()
    panel.upload_button.click()
    assert panel.status.level == "error" and "choose a local file" in panel.status.text.lower()
    (tmp_path / "a.csv").write_text("a")
    panel.choose_local(tmp_path / "a.csv")
    panel.upload_button.click()
    panel.wait()
    assert panel.status.level == "error" and "write credentials" in panel.status.text
    assert not panel.upload_button.disabled and panel.cancel_button.disabled
    os.chmod(tmp_path / "a.csv", 0o644)


def test_sync_action_previews_then_applies(
    s3_server: LocalS3Server, credentials: Credentials, location: DatasetLocation, admin: Any, tmp_path: Path
) -> None:
    explorer = Explorer(credentials, location, endpoint_url=s3_server.endpoint_url, local_path=tmp_path)
    explorer.wait()
    admin.put_object(Bucket=location.bucket, Key=location.prefix + "stale.csv", Body=b"old")
    local = write_tree(tmp_path / "project", {"a.csv": b"1", "sub/b.csv": b"2"})
    panel = explorer.transfers
    panel.choose_local(local)
    panel.sync.delete_extras.value = True
    panel.sync.preview_button.click()
    assert panel.sync.apply_button.disabled is False
    table = panel.sync.table.value
    assert "2 new" in table and "sub/b.csv" in table and "stale.csv" in table and "delete" in table
    assert set(remote_keys(admin, location)) == {"stale.csv"}  # a preview changes nothing
    panel.sync.apply_button.click()
    explorer.wait()
    assert panel.status.level == "ok", panel.status.text
    assert set(remote_keys(admin, location)) == {"a.csv", "sub/b.csv"}
    assert "1 deleted" in panel.status.text
    assert [e.name for e in explorer.browser.entries] == ["sub", "a.csv"]
    panel.sync.apply_button.click()  # nothing previewed any more
    assert panel.status.level == "error" and "preview" in panel.status.text.lower()


def test_progress_reaches_the_browser_at_a_few_updates_a_second() -> None:
    import time as clock

    from provena_widgets import TransferProgress
    from provena_widgets.widgets.transfers import UI_INTERVAL

    panel = TransferPanel()
    messages: list[str] = []
    for shown in (panel.total_bar, panel.total_label, panel.files_view, panel.log_view):
        shown.observe(lambda change: messages.append(change["name"]), names="value")
    started = clock.monotonic()
    for step in range(1, 201):  # far more events than any engine sends
        panel._on_progress(TransferProgress("upload", step, 200, step * 10, 2000, 0.1, 100.0))
    panel._on_progress(TransferProgress("upload", 200, 200, 2000, 2000, 0.1, 100.0, done=True))
    elapsed = clock.monotonic() - started
    renders = 2 + elapsed / UI_INTERVAL  # the first, the final, and one per interval between
    assert 0 < len(messages) <= 4 * renders
    assert panel.total_bar.value == 1.0 and "200/200 files" in panel.total_label.value


def test_the_dask_option_is_hidden_without_an_active_client() -> None:
    from distributed.client import default_client

    with pytest.raises(ValueError):
        default_client()  # no test left one around
    panel = TransferPanel()
    panel.on_cluster.value = True
    assert panel.on_cluster.layout.display == "none" and panel.cluster is None
    assert panel.refresh_cluster() == 0
