"""ThisComputer in real JupyterLab (headless chromium): files picked on "this computer" stream into
the dataset through the widget's comm, and dataset files stream back into the browser's downloads;
in an Explorer, a picked folder keeps its empty folders, drops on the dataset pane (or a folder row)
upload there, one answer applies to all, and a lost connection leaves no object but the parts that a
reopened tab's retry does not send again."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import open_uploads, remote_keys
from test_browser import (  # noqa: F401 (fixtures)
    KERNEL_READY,
    _run_cell,
    browser,
    demo,
    expect,
    lab_notebook,
    page,
    panes,
)

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

        with page.expect_download(timeout=60_000) as direct:
            _run_cell(page, 3)  # a presigned URL, carrying the session token, in a message only
        assert direct.value.url.startswith(f"{s3_server.endpoint_url}/")  # the browser went to S3 itself
        assert "/incoming/small.csv?" in direct.value.url and "X-Amz-Signature=" in direct.value.url
        assert Path(direct.value.path()).read_bytes() == small.read_bytes()  # S3 accepted the signature
        assert direct.value.suggested_filename == "small.csv"
        page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
        saved_notebook = notebook.read_text()
        assert "application/vnd.jupyter.widget-state+json" in saved_notebook
        assert "incoming/tree/" in saved_notebook  # the widget's state was saved...
        token = session.credentials.session_token
        assert token and token not in saved_notebook  # ...and no secret with it
        assert "X-Amz-Security-Token" not in saved_notebook


EXPLORER = ("code", "from provena_widgets import Explorer\n"
                    "from provena_widgets.sandbox.session import DemoSession\n\n"
                    "s = DemoSession.load()\n"
                    "explorer = Explorer(s.credentials, s.location, s.endpoint_url)\nexplorer")  # fmt: skip
# A folder in the origin's private file system, with empty folders, behind a stand-in for the
# browser's folder picker: real FileSystemDirectoryHandles, walked by the widget's own code.
PICKABLE = """async () => { const root = await navigator.storage.getDirectory();
  const proj = await root.getDirectoryHandle('proj', { create: true });
  const a = await (await proj.getFileHandle('a.txt', { create: true })).createWritable();
  await a.write('alpha'); await a.close();
  await proj.getDirectoryHandle('empty', { create: true });
  await (await proj.getDirectoryHandle('deep', { create: true })).getDirectoryHandle('er', { create: true });
  window.showDirectoryPicker = async () => proj; }"""
# A desktop drop, as the page's handlers see it: FileSystemEntry-shaped objects around real Files
# (a script cannot make the browser's own entries; only the OS's drag can). ``where``: a folder row's
# id in the dataset pane, or "" for the pane itself.
DROP = """([where, tree]) => {
  const entry = (path, node) => typeof node === 'string'
    ? { isFile: true, isDirectory: false, fullPath: path,
        file: (ok) => ok(new File([node], path.split('/').pop(), { lastModified: 1700000000000 })) }
    : { isFile: false, isDirectory: true, fullPath: path, createReader: () => { let given = false;
        return { readEntries: (ok) => { ok(given ? [] : Object.entries(node).map(([name, child]) =>
          entry(`${path}/${name}`, child))); given = true; } }; } };
  const items = Object.entries(tree).map(([name, node]) =>
    ({ kind: 'file', webkitGetAsEntry: () => entry(`/${name}`, node) }));
  const grid = document.querySelector('.provena-explorer .provena-remote-browser .pw-grid');
  const target = where ? [...grid.querySelectorAll('.pw-row')].find((node) => node.row?.id === where) : grid;
  const transfer = { types: ['Files'], items, dropEffect: 'none' };
  const fire = (type) => { const event = new DragEvent(type, { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'dataTransfer', { value: transfer }); target.dispatchEvent(event); };
  fire('dragover');
  const marked = target.classList.contains('pw-desktop-over');
  fire('drop');
  return marked; }"""
# The websocket as the network carries it: bytes of binary frames counted, and from ``cutAfter``
# bytes on silently lost, as when a connection dies without closing (``stallAfter``: only the
# large frames, so the page waits for acknowledgements and its Cancel still goes through).
NETWORK = """() => { const send = WebSocket.prototype.send; window.sentBytes = 0;
  WebSocket.prototype.send = function (data) {
    if (typeof data !== 'string') window.sentBytes += data.byteLength ?? data.size ?? 0;
    if (window.cutAfter != null && window.sentBytes > window.cutAfter) return;
    if (window.stallAfter != null && window.sentBytes > window.stallAfter && data.byteLength > 65536) return;
    return send.call(this, data); }; }"""
ADD_LAST = """(source) => { const model = window.jupyterapp.shell.currentWidget.model.sharedModel;
  model.insertCell(model.cells.length, { cell_type: 'code', source }); return model.cells.length - 1; }"""


def test_folders_drops_questions_and_a_lost_connection_in_the_explorer(
    demo: Any,  # noqa: F811
    page: Any,  # noqa: F811
    s3_server: LocalS3Server,
    tmp_path: Path,
) -> None:
    root, env, session = demo
    page.add_init_script(f"({NETWORK})()")  # from the first frame on
    with lab_notebook(page, root, env, "explorer.ipynb", [EXPLORER]) as notebook:
        computer = page.locator(".jp-OutputArea-output .provena-computer")
        status = computer.get_by_role("status")
        expect(computer.get_by_role("button", name="Upload a folder")).to_be_visible(timeout=90_000)
        expect(panes(page)[1].get_by_role("gridcell", name="data", exact=True)).to_be_visible(timeout=60_000)

        page.evaluate(PICKABLE)  # the folder picker keeps empty folders
        computer.get_by_role("button", name="Upload a folder").click()
        expect(status).to_contain_text("3 transferred", timeout=60_000)
        keys = remote_keys(s3_server.admin_client(), session.location)
        assert {k: v for k, v in keys.items() if k.startswith("proj/")} == {
            "proj/a.txt": 5, "proj/empty/": 0, "proj/deep/er/": 0}  # fmt: skip

        tree = {"drop": {"x.csv": "1,2\n", "hollow": {}}}
        assert page.evaluate(DROP, ["data/", tree])  # onto the data/ row: marked while over it
        expect(status).to_contain_text("2 transferred", timeout=60_000)
        assert dataset_file(s3_server, session, "data/drop/x.csv") == b"1,2\n"
        assert dataset_file(s3_server, session, "data/drop/hollow/") == b""
        assert page.evaluate(DROP, ["", {"loose.txt": "loose"}])  # onto the pane: the folder shown
        expect(status).to_contain_text("1 transferred", timeout=60_000)
        assert dataset_file(s3_server, session, "loose.txt") == b"loose"

        names = [tmp_path / f"{n}.txt" for n in ("one", "two", "three")]
        for version in (b"first", b"second"):
            for path in names:
                path.write_bytes(version)
            computer.locator("input.pw-files").set_input_files([str(path) for path in names])
            if version == b"second":  # all three exist now: one question, answered for all
                question = computer.get_by_role("alertdialog")
                expect(question).to_contain_text("one.txt exists in the dataset", timeout=30_000)
                question.get_by_role("checkbox").check()
                question.get_by_role("button", name="Overwrite").click()
            expect(status).to_contain_text("3 transferred", timeout=60_000)
        assert computer.get_by_role("alertdialog").is_hidden()
        assert [dataset_file(s3_server, session, p.name) for p in names] == [b"second"] * 3
        computer.get_by_label("If a file exists:").select_option("skip")  # the rule, chosen on the page
        computer.locator("input.pw-files").set_input_files([str(path) for path in names])
        expect(status).to_contain_text("3 skipped", timeout=60_000)
        computer.get_by_label("If a file exists:").select_option("ask")

        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(40 * MiB))  # five 8 MiB parts
        _run_cell(page, page.evaluate(ADD_LAST, "explorer.computer.idle_timeout = 3"))
        page.evaluate(f"() => {{ window.cutAfter = window.sentBytes + 3 * {8 * MiB} + 65536; }}")
        computer.locator("input.pw-files").set_input_files([str(big)])  # three chunks get through
        expect(status).to_contain_text("cancelled (1 not done)", timeout=60_000)
        admin = s3_server.admin_client()
        assert "big.bin" not in remote_keys(admin, session.location)  # no partial object
        assert open_uploads(admin, session.location) == [session.location.prefix + "big.bin"]

        again = page.context.new_page()  # the tab is closed; another opens the notebook again
        again.goto(page.url)
        page.close()
        again.wait_for_function(KERNEL_READY, timeout=90_000)
        again.evaluate(NETWORK)
        _run_cell(again, again.evaluate(ADD_LAST, "explorer.computer"))
        computer = again.locator(".jp-OutputArea-output .provena-computer").last
        expect(computer.get_by_role("button", name="Upload from this computer")).to_be_visible(timeout=60_000)
        computer.locator("input.pw-files").set_input_files([str(big)])
        question = computer.get_by_role("alertdialog")
        expect(computer.get_by_role("status")).to_contain_text("1 transferred", timeout=120_000)
        assert question.is_hidden()  # not in the dataset yet: nothing to ask
        assert dataset_file(s3_server, session, "big.bin") == big.read_bytes()
        sent = again.evaluate("() => window.sentBytes")
        print(f"the retry sent {sent / MiB:.2f} MiB of the 40 MiB file")
        assert 16 * MiB <= sent < 17 * MiB, sent  # only the two parts the kept three did not cover
        assert open_uploads(admin, session.location) == []

        stopped = tmp_path / "stopped.bin"
        stopped.write_bytes(os.urandom(80 * MiB))  # ten chunks: the window (four) never reaches the end
        again.evaluate(f"() => {{ window.stallAfter = window.sentBytes + {8 * MiB} + 65536; }}")
        computer.locator("input.pw-files").set_input_files([str(stopped)])  # one chunk, then a stall
        active = computer.get_by_role("list", name="Files in progress")
        expect(active).to_contain_text("stopped.bin: 8.4 MB of 83.9 MB (10%)", timeout=60_000)  # per file
        expect(computer.get_by_role("status")).to_contain_text("ETA")  # the total, with rate and ETA
        computer.get_by_role("button", name="Cancel").click()
        expect(computer.get_by_role("status")).to_contain_text("cancelled (1 not done)", timeout=60_000)
        assert "stopped.bin" not in remote_keys(admin, session.location)
        assert open_uploads(admin, session.location) == [session.location.prefix + "stopped.bin"]  # part 1
        assert notebook.exists()
