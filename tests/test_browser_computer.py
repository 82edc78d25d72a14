"""ThisComputer in real JupyterLab (headless chromium): files picked on "this computer" stream into
the dataset through the widget's comm, and dataset files stream back into the browser's downloads."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from test_browser import _run_cell, browser, demo, expect, lab_notebook, page  # noqa: F401 (fixtures)

from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.sandbox.session import DemoSession

pytestmark = pytest.mark.browser
MiB = 1024 * 1024
CELLS = [
    ("code", "from provena_widgets.sandbox.session import DemoSession\n"
             "from provena_widgets.widgets.computer import ThisComputer\n\n"
             "computer = ThisComputer(DemoSession.load().store(), target='incoming/')\ncomputer"),
    ("code", "computer.send_to_computer('incoming/big.bin', via_kernel=True)"),
    ("code", "computer.selected = ['incoming/tree/']"),
    ("code", "computer.send_to_computer('incoming/small.csv')  # a presigned URL, as a message"),
]  # fmt: skip
# A stand-in for the browser's save dialog: a real FileSystemWritableFileStream, in the origin's
# private file system, which the test reads back.
SAVE_PICKER = """window.showSaveFilePicker = async ({ suggestedName }) => {
  const root = await navigator.storage.getDirectory();
  window.savedName = suggestedName;
  return await root.getFileHandle(suggestedName, { create: true }); };"""
ADD_CELLS = """(sources) => { const model = window.jupyterapp.shell.currentWidget.model.sharedModel;
  sources.forEach((source, i) => model.insertCell(i + 1, { cell_type: 'code', source })); }"""
READ_SAVED = """async () => { const root = await navigator.storage.getDirectory();
  const file = await (await root.getFileHandle(window.savedName)).getFile();
  const bytes = new Uint8Array(await file.arrayBuffer()); let text = '';
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(text); }"""


def dataset_file(s3_server: LocalS3Server, session: DemoSession, path: str) -> bytes:
    admin = s3_server.admin_client()
    body: bytes = admin.get_object(Bucket=session.location.bucket, Key=session.location.prefix + path)[
        "Body"
    ].read()
    return body


def test_upload_from_and_download_to_this_computer_in_jupyterlab(
    demo: Any,  # noqa: F811
    page: Any,  # noqa: F811
    s3_server: LocalS3Server,
    tmp_path: Path,
) -> None:
    root, env, session = demo
    computer_files = tmp_path / "this-computer"
    tree = {"tree/a.csv": b"x,y\n1,2\n", "tree/deep/b.txt": "naïve ☕".encode(), "tree/empty.txt": b""}
    for name, data in tree.items():
        (computer_files / name).parent.mkdir(parents=True, exist_ok=True)
        (computer_files / name).write_bytes(data)
    big, small = computer_files / "big.bin", computer_files / "small.csv"
    big.write_bytes(os.urandom(20 * MiB + 3))  # multipart: three 8 MiB parts
    small.write_bytes(b"site,value\nHeron,1\n")
    page.add_init_script(SAVE_PICKER)
    with lab_notebook(page, root, env, "computer.ipynb", CELLS[:1]) as notebook:
        page.evaluate(ADD_CELLS, [source for _, source in CELLS[1:]])  # typed in later, run one by one
        widget = page.locator(".jp-OutputArea-output .provena-computer")
        status = widget.get_by_role("status")
        expect(widget.get_by_role("button", name="Upload from this computer")).to_be_visible(timeout=90_000)
        expect(widget.get_by_role("region", name="Drop files or folders here to upload")).to_be_visible()

        widget.locator("input.pw-files").set_input_files([str(big), str(small)])
        expect(status).to_contain_text("2 transferred", timeout=120_000)
        assert dataset_file(s3_server, session, "incoming/big.bin") == big.read_bytes()
        assert dataset_file(s3_server, session, "incoming/small.csv") == small.read_bytes()

        widget.locator("input.pw-folder").set_input_files(str(computer_files / "tree"))  # the folder picker
        expect(status).to_contain_text(f"{len(tree)} transferred", timeout=60_000)
        for name, data in tree.items():
            assert dataset_file(s3_server, session, "incoming/" + name) == data

        widget.locator("input.pw-files").set_input_files([str(small)])  # again: the overwrite question
        question = widget.get_by_role("alertdialog")
        expect(question).to_contain_text("incoming/small.csv exists in the dataset", timeout=30_000)
        question.get_by_role("button", name="Skip").click()
        expect(status).to_contain_text("0 transferred", timeout=30_000)
        expect(status).to_contain_text("1 skipped")

        page.evaluate("() => { window.picker = showSaveFilePicker; delete window.showSaveFilePicker; }")
        with page.expect_download(timeout=120_000) as download:
            _run_cell(page, 1)  # through the kernel, into a Blob (as where there is no save dialog)
        assert Path(download.value.path()).read_bytes() == big.read_bytes()
        assert download.value.suggested_filename == "big.bin"

        _run_cell(page, 2)
        page.evaluate("() => { window.showSaveFilePicker = window.picker; }")
        widget.get_by_role("button", name="Download to this computer").click()  # a gesture: the save dialog
        expect(status).to_contain_text("Downloaded tree.zip", timeout=60_000)
        saved = zipfile.ZipFile(io.BytesIO(base64.b64decode(page.evaluate(READ_SAVED))))
        assert {name: saved.read(name) for name in saved.namelist()} == tree

        with page.expect_request(lambda request: "X-Amz-Signature=" in request.url) as direct:
            _run_cell(page, 3)  # the URL carries the session token, in a message only
        assert "/incoming/small.csv?" in direct.value.url  # the browser went to S3 itself
        page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
        saved_notebook = notebook.read_text()
        assert "application/vnd.jupyter.widget-state+json" in saved_notebook
        assert "incoming/tree/" in saved_notebook  # the widget's state was saved...
        token = session.credentials.session_token
        assert token and token not in saved_notebook  # ...and no secret with it
        assert "X-Amz-Security-Token" not in saved_notebook
