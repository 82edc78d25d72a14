"""Real-browser tests: headless chromium drives the widgets in Voila, JupyterLab and Notebook 7."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE, _buckets

from provena_widgets.sandbox.jupyter import DEMO_CELLS, NotebookServer, write_demo_notebook, write_notebook
from provena_widgets.sandbox.provena_standin import demo_world
from provena_widgets.sandbox.s3server import LocalS3Server, free_port
from provena_widgets.sandbox.sample import seed
from provena_widgets.sandbox.session import SESSION_ENV, DemoSession

sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
expect = sync_api.expect
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and os.access(CHROMIUM, os.X_OK)),
        reason="chromium not found (apt-get install chromium, or set CHROMIUM_PATH): browser tests skipped",
    ),
]
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]  # fmt: skip
GALLERY = Path(__file__).resolve().parent.parent / "docs" / "gallery"
TOKEN = "e2e-token"
KERNEL_READY = """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const n = p && p.querySelector('.jp-KernelName');
  const i = p && p.querySelector('.jp-Notebook-ExecutionIndicator');
  return !!(n && i && !/No Kernel/.test(n.textContent) && i.dataset.status === 'idle'); }"""
# Known harmless page errors of Notebook 7.6 (see shared/browser-tests.md, pitfall 6).
KNOWN_NOISE = ("reading 'schema'", "filebrowser:open-path")


@contextlib.contextmanager
def serving(server: NotebookServer, env: dict[str, str], log: Path) -> Iterator[NotebookServer]:
    with log.open("wb") as out:
        try:
            server.start(env, out, timeout=90)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {log.read_text()[-2000:]}") from None
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def demo(s3_server: LocalS3Server) -> Iterator[tuple[Path, dict[str, str], DemoSession]]:
    """A Provena stand-in with a seeded dataset, the demo session file, a private Jupyter config."""
    with (
        tempfile.TemporaryDirectory(prefix="provena-e2e-") as tmp,
        demo_world(s3_server, bucket=f"e2e-{next(_buckets)}", device_interval=0) as stand_in,
    ):
        root = Path(tmp)
        session = DemoSession.create(s3_server, stand_in, SAMPLE)
        session.save(root / "session.json")
        seed(s3_server.admin_client(), session.location, large_size=1024)
        yield root, {**jupyter_env(root), SESSION_ENV: str(root / "session.json")}, session


def jupyter_env(root: Path) -> dict[str, str]:
    """The servers' environment: a private Jupyter config and runtime in ``root``, no news toast."""
    settings = root / "config/lab/user-settings"
    (settings / "@jupyterlab/apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab/apputils-extension/notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    (settings / "@jupyter-widgets/jupyterlab-manager").mkdir(parents=True)
    (settings / "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings").write_text(
        '{"saveState": true}'  # save widget state: the worst case for secrets
    )
    runtime = {"JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    return {**os.environ, **runtime}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


LOOPBACK_ONLY = re.compile(
    r"^(?!https?://(127\.0\.0\.1|localhost)[:/])"
)  # matched in the driver, not in Python


@contextlib.contextmanager
def user_page(browser: Any) -> Iterator[Any]:
    """A page in a browser context of its own (its own cookies, as a person's browser), reaching
    loopback only; page errors other than the known noise fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.route(LOOPBACK_ONLY, lambda r: r.abort())
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert [e for e in errors if not any(noise in e for noise in KNOWN_NOISE)] == []


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with user_page(browser) as opened:
        yield opened


def shot(page: Any, name: str) -> None:
    GALLERY.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(GALLERY / f"{name}.png"))


def cell(scope: Any, name: str) -> Any:
    """The table's name cell of ``name`` (a folder's name has no trailing /)."""
    return scope.get_by_role("gridcell", name=name, exact=True)


def row(table: Any, index: int) -> Any:
    """Row ``index`` of the table's body, wherever the page put its element."""
    return table.locator(f'[role=row][aria-rowindex="{index + 2}"]')


def get_object(s3_server: LocalS3Server, session: DemoSession, path: str) -> bytes:
    key = session.location.prefix + path
    body: bytes = s3_server.admin_client().get_object(Bucket=session.location.bucket, Key=key)["Body"].read()
    return body


CUT = """els => els.filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.textContent.trim())"""  # the visible buttons whose label does not fit


def panes(explorer: Any) -> tuple[Any, Any]:
    """The Explorer's local and dataset tables."""
    local = explorer.locator(".provena-local-browser").get_by_role("grid")
    return local, explorer.locator(".provena-remote-browser").get_by_role("grid")


def test_voila_browse_download_and_upload(demo: Any, page: Any, s3_server: LocalS3Server) -> None:
    root, env, session = demo
    notebook = write_demo_notebook(root)
    (root / "upload-me.csv").write_text("site,value\nHeron,1\n")
    with serving(NotebookServer.voila(notebook, free_port()), env, root / "voila.log") as server:
        page.goto(server.url)
        explorer = page.locator(".provena-explorer").first  # the one already connected
        local, table = panes(explorer)  # the commander: both panes side by side
        expect(cell(table, "data")).to_be_visible(timeout=90_000)
        expect(cell(table, "metadata.json")).to_be_visible()
        expect(cell(local, "upload-me.csv")).to_be_visible()  # the notebook's folder
        local_box, table_box = local.bounding_box(), table.bounding_box()
        assert local_box["x"] + local_box["width"] <= table_box["x"]  # side by side
        assert abs(local_box["y"] - table_box["y"]) < 60
        shot(page, "1-voila-explorer")

        cell(table, "data").dblclick()
        expect(cell(table, "temperature.csv")).to_be_visible(timeout=30_000)
        expect(explorer.locator(".provena-remote-browser .provena-crumb")).to_have_count(2)
        shot(page, "2-voila-folder")

        cell(table, "temperature.csv").click()
        expect(table.get_by_role("row", selected=True)).to_have_count(1)
        explorer.get_by_role("button", name="← Download").click()  # into the local pane's folder
        expect(explorer.locator(".provena-transfer-panel .provena-status")).to_contain_text(
            "1 transferred", timeout=60_000
        )
        expect(cell(local, "temperature.csv")).to_be_visible(timeout=30_000)  # the pane refreshed
        shot(page, "3-voila-downloaded")
        assert (root / "temperature.csv").read_bytes() == get_object(
            s3_server, session, "data/temperature.csv"
        )

        cell(local, "upload-me.csv").click()
        explorer.get_by_role("button", name="Upload →").click()
        expect(cell(table, "upload-me.csv")).to_be_visible(timeout=60_000)  # refreshed after the upload
        shot(page, "4-voila-uploaded")
        assert get_object(s3_server, session, "data/upload-me.csv") == b"site,value\nHeron,1\n"
        assert explorer.locator("button").evaluate_all(CUT) == []

        page.set_viewport_size({"width": 640, "height": 1000})  # a narrow column: the panes stack
        expect(cell(local, "upload-me.csv")).to_be_visible()
        local_box, table_box = local.bounding_box(), table.bounding_box()
        assert local_box["y"] + local_box["height"] < table_box["y"]
        assert explorer.locator("button").evaluate_all(CUT) == []
        shot(page, "15-voila-narrow")


def test_voila_provena_login_generate_and_upload(demo: Any, page: Any, s3_server: LocalS3Server) -> None:
    root, env, session = demo
    notebook = write_demo_notebook(root)
    (root / "from-login.csv").write_text("x\n1\n")
    with serving(NotebookServer.voila(notebook, free_port()), env, root / "voila.log") as server:
        page.goto(server.url)
        explorer = page.locator(".provena-explorer").nth(1)  # the one that logs in to Provena
        explorer.locator(".provena-login").click()
        link = explorer.locator(".provena-login-status a")
        expect(link).to_be_visible(timeout=90_000)
        shot(page, "8-voila-login-link")

        approval = page.context.new_page()  # the user opens the link in another tab
        approval.goto(link.get_attribute("href"))
        approval.locator("select[name=username]").select_option("alice")
        approval.locator("#approve").click()
        expect(approval.locator("body")).to_contain_text("go back to the notebook")
        approval.close()

        expect(explorer.locator(".provena-login-status")).to_contain_text("alice", timeout=30_000)
        expect(explorer.locator(".provena-dataset-name")).to_contain_text("Reef temperature loggers")
        assert explorer.locator("button").evaluate_all(CUT) == []  # "Generate read credentials" whole
        explorer.locator(".provena-generate-write").click()
        local, table = panes(explorer)
        expect(cell(table, "data")).to_be_visible(timeout=60_000)
        expect(explorer.locator(".provena-expiry")).to_contain_text("renewed automatically")
        shot(page, "9-voila-generated")

        cell(local, "from-login.csv").click()
        explorer.get_by_role("button", name="Upload →").click()
        expect(cell(table, "from-login.csv")).to_be_visible(timeout=60_000)
        assert get_object(s3_server, session, "from-login.csv") == b"x\n1\n"


@contextlib.contextmanager
def lab_notebook(page: Any, root: Path, env: dict[str, str], name: str, cells: Any) -> Iterator[Path]:
    """A notebook of ``cells`` open in JupyterLab, every cell run; yields its path."""
    notebook = write_notebook(root / name, cells)
    server = NotebookServer.lab(
        root, free_port(), TOKEN, notebook.name, "--LabApp.expose_app_in_browser=True"
    )
    with serving(server, env, root / "lab.log"):
        page.goto(server.url)
        _run_all(page)
        yield notebook


def _run_all(page: Any) -> None:
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_function(KERNEL_READY, timeout=90_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def test_jupyterlab_paste_connect_and_save_keeps_no_secret(demo: Any, page: Any) -> None:
    root, env, session = demo
    creds = session.credentials
    code = f"from provena_widgets import Explorer\nExplorer(endpoint_url={session.endpoint_url!r})"
    with lab_notebook(page, root, env, "paste.ipynb", [("code", code)]) as notebook:
        paste = page.locator(".jp-OutputArea-output .provena-paste textarea")
        expect(paste).to_be_visible(timeout=90_000)
        paste.fill(
            f'export AWS_ACCESS_KEY_ID="{creds.access_key_id}"\n'
            f'export AWS_SECRET_ACCESS_KEY="{creds.secret_access_key}"\n'
            f'export AWS_SESSION_TOKEN="{creds.session_token}"\n'
            f"aws s3 ls {session.location.s3_uri}\n"
        )
        expect(page.locator(".provena-access-key input")).to_have_value(creds.access_key_id, timeout=30_000)
        expect(paste).to_have_value("")  # the pasted block left the widget at once
        shot(page, "5-jupyterlab-pasted")
        page.locator(".provena-connect").click()
        expect(cell(panes(page)[1], "data")).to_be_visible(timeout=60_000)
        shot(page, "6-jupyterlab-connected")
        page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
        saved = notebook.read_text()
        assert "application/vnd.jupyter.widget-state+json" in saved
        assert creds.access_key_id in saved  # the widget state was saved...
        assert creds.secret_access_key not in saved  # ...without the secret
        assert creds.session_token is not None and creds.session_token not in saved


def _run_cell(page: Any, index: int) -> None:
    """Run one cell of the open notebook, as Shift+Enter on it does (needs expose_app_in_browser)."""
    page.evaluate(
        """async (index) => { const app = window.jupyterapp, panel = app.shell.currentWidget;
        await panel.sessionContext.ready; panel.content.activeCellIndex = index;
        await app.commands.execute('notebook:run-cell'); }""",
        index,
    )


def test_jupyterlab_kernel_code_sets_the_browser_path(demo: Any, page: Any) -> None:
    root, env, _ = demo
    cells = [
        ("code", DEMO_CELLS[1][1]),
        ("code", 'explorer.browser.path = "data/"'),
        ("code", 'explorer.browser.path = "no-such-folder/"'),
    ]
    notebook = write_notebook(root / "set-path.ipynb", cells)
    server = NotebookServer.lab(
        root, free_port(), TOKEN, notebook.name, "--LabApp.expose_app_in_browser=True"
    )
    with serving(server, env, root / "lab.log"):
        page.goto(server.url)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        page.wait_for_function(KERNEL_READY, timeout=90_000)
        _run_cell(page, 0)
        browser = page.locator(".jp-OutputArea-output .provena-remote-browser")
        table, crumbs = browser.get_by_role("grid"), browser.locator(".provena-crumb")
        status = browser.locator(".provena-status")
        expect(cell(table, "README.txt")).to_be_visible(timeout=90_000)  # the dataset folder, shown
        expect(crumbs).to_have_count(1)

        _run_cell(page, 1)
        expect(cell(table, "temperature.csv")).to_be_visible(timeout=30_000)
        expect(cell(table, "raw")).to_be_visible()
        expect(cell(table, "README.txt")).to_have_count(0)
        expect(crumbs).to_have_count(2)
        expect(crumbs.nth(1)).to_have_text("data")
        expect(status).to_contain_text("items in data/")

        _run_cell(page, 2)
        expect(status).to_contain_text("does not exist", timeout=30_000)
        expect(status.locator("[data-level=error]")).to_be_visible()
        expect(crumbs).to_have_count(2)  # back on data/, still listed
        expect(crumbs.nth(1)).to_have_text("data")
        expect(cell(table, "temperature.csv")).to_be_visible()


def test_notebook7_renders_the_explorer(demo: Any, page: Any) -> None:
    root, env, _ = demo
    notebook = write_demo_notebook(root)
    server = NotebookServer.lab(root, free_port(), TOKEN)
    with serving(server, env, root / "nb7.log"):
        page.goto(server.url.replace("/lab/tree/", f"/notebooks/{notebook.name}"))
        _run_all(page)
        explorer = page.locator(".jp-OutputArea-output .provena-explorer").first
        table = panes(explorer)[1]
        expect(cell(table, "data")).to_be_visible(timeout=90_000)
        cell(table, "data").dblclick()
        expect(cell(table, "temperature.csv")).to_be_visible(timeout=30_000)
        expect(explorer.locator(".provena-remote-browser .provena-status")).to_contain_text(
            "items in data/", timeout=30_000
        )
        expect(page.locator(".jp-OutputArea-output .provena-login")).to_be_visible()  # the second Explorer
        shot(page, "7-notebook7-explorer")


TABLE_CELL = """import ipywidgets as w
from provena_widgets import DatasetStore, RemoteBrowser
from provena_widgets.sandbox.session import DemoSession

demo = DemoSession.load()
browser = RemoteBrowser(DatasetStore(demo.credentials, demo.location, endpoint_url=demo.endpoint_url))
chosen, heard = w.Label(), w.Label()
chosen.add_class("e2e-selected")
heard.add_class("e2e-heard")
browser.observe(lambda change: setattr(chosen, "value", " | ".join(change["new"])), names="selected")
browser.table.on_action(lambda action, names, value: setattr(heard, "value", f"{action} {names} {value}"))
w.VBox([browser, chosen, heard])"""


def test_jupyterlab_file_table_by_mouse_and_keyboard(demo: Any, page: Any, s3_server: LocalS3Server) -> None:
    root, env, session = demo
    with lab_notebook(page, root, env, "table.ipynb", [("code", TABLE_CELL)]):
        table = page.locator(".jp-OutputArea-output").get_by_role("grid")
        chosen, heard = page.locator(".e2e-selected"), page.locator(".e2e-heard")
        expect(cell(table, "data")).to_be_visible(timeout=90_000)
        name = table.get_by_role("columnheader", name="Name")
        expect(name).to_have_attribute("aria-sort", "ascending")
        name.click()  # again: reversed, folders still first
        expect(name).to_have_attribute("aria-sort", "descending")
        expect(row(table, 0)).to_contain_text("model")
        expect(row(table, 3)).to_contain_text("README.txt")
        name.click()
        expect(name).to_have_attribute("aria-sort", "ascending")
        expect(row(table, 0)).to_contain_text("data")

        cell(table, "data").dblclick()
        expect(cell(table, "temperature.csv")).to_be_visible(timeout=30_000)
        cell(table, "raw").click()
        cell(table, "temperature.csv").click(modifiers=["Shift"])
        expect(chosen).to_have_text("data/raw/ | data/coral_cover.csv | data/temperature.csv")
        expect(table.get_by_role("row", selected=True)).to_have_count(3)
        shot(page, "10-jupyterlab-table-range")

        table.press("ArrowUp")
        expect(chosen).to_have_text("data/coral_cover.csv")
        table.press("Shift+ArrowUp")
        expect(chosen).to_have_text("data/raw/ | data/coral_cover.csv")
        table.press("ArrowUp")
        table.press("Enter")  # opens raw/
        expect(cell(table, "logger-01.csv")).to_be_visible(timeout=30_000)
        table.press("Backspace")
        expect(cell(table, "temperature.csv")).to_be_visible(timeout=30_000)

        cell(table, "coral_cover.csv").click()
        table.press("F2")
        rename = table.get_by_role("textbox", name="New name for coral_cover.csv")
        expect(rename).to_be_focused()
        rename.fill("corals.csv")
        rename.press("Enter")
        expect(heard).to_have_text("rename ['coral_cover.csv'] corals.csv")
        expect(cell(table, "corals.csv")).to_be_visible(timeout=30_000)  # renamed in the dataset
        assert get_object(s3_server, session, "data/corals.csv").startswith(b"reef,year")

        cell(table, "temperature.csv").click()  # quick look: its first rows, beside the table
        look = page.locator(".provena-quicklook")
        expect(look.get_by_role("columnheader", name="temperature_c")).to_be_visible(timeout=30_000)
        expect(look.get_by_role("cell", name="Heron").first).to_be_visible()
        expect(look).to_contain_text("shown whole")

        cell(table, "temperature.csv").click(button="right")  # selects it, and opens the menu
        expect(chosen).to_have_text("data/temperature.csv")
        menu = page.get_by_role("menu", name="File actions")
        items = menu.get_by_role("menuitem")
        expect(items).to_have_text(
            ["Download", "Upload here", "Rename", "Move to…", "Copy to…", "New folder", "Delete",
             "Copy path", "Properties"]
        )  # fmt: skip
        shot(page, "11-jupyterlab-table-menu")
        menu.get_by_role("menuitem", name="Rename").click()  # rename from the menu, in place
        rename = table.get_by_role("textbox", name="New name for temperature.csv")
        rename.fill("temps.csv")
        rename.press("Enter")
        expect(cell(table, "temps.csv")).to_be_visible(timeout=30_000)
        assert get_object(s3_server, session, "data/temps.csv").startswith(b"site,day")

        cell(table, "temps.csv").click(button="right")
        menu.get_by_role("menuitem", name="Properties").click()
        expect(heard).to_have_text("properties ['temps.csv'] None")
        expect(menu).to_be_hidden()
        expect(page.locator(".provena-details")).to_contain_text("ETag", timeout=30_000)
        shot(page, "13-jupyterlab-quicklook")

        page.evaluate(DARK)  # the table follows JupyterLab's theme
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
        expect(page.locator("#jupyterlab-splash")).to_have_count(0)  # the theme's splash has gone
        expect(table).to_have_css("background-color", re.compile(r"rgb\((\d|[1-5]\d), "))  # dark
        shot(page, "12-jupyterlab-table-dark")


def test_jupyterlab_commander_drag_and_drop(demo: Any, page: Any, s3_server: LocalS3Server) -> None:
    root, env, session = demo
    (root / "drag-me.csv").write_text("a,b\n1,2\n")
    with lab_notebook(page, root, env, "commander.ipynb", [("code", DEMO_CELLS[1][1])]):
        explorer = page.locator(".jp-OutputArea-output .provena-explorer")
        local, table = panes(explorer)
        expect(cell(table, "README.txt")).to_be_visible(timeout=90_000)
        expect(cell(local, "drag-me.csv")).to_be_visible()
        box = table.bounding_box()  # below the rows: the folder shown, not a folder row
        cell(local, "drag-me.csv").drag_to(table, target_position={"x": 40, "y": box["height"] - 20})
        expect(cell(table, "drag-me.csv")).to_be_visible(timeout=60_000)  # uploaded, then refreshed
        assert get_object(s3_server, session, "drag-me.csv") == b"a,b\n1,2\n"

        cell(table, "README.txt").drag_to(cell(table, "images"))  # onto a folder row: a move
        expect(cell(table, "README.txt")).to_have_count(0, timeout=60_000)
        assert get_object(s3_server, session, "images/README.txt").startswith(b"Sample dataset")
        keys = s3_server.admin_client().list_objects_v2(
            Bucket=session.location.bucket, Prefix=session.location.prefix + "README"
        )
        assert keys.get("KeyCount") == 0
        cell(table, "data").dblclick()
        expect(cell(table, "temperature.csv")).to_be_visible(timeout=30_000)
        cell(table, "temperature.csv").click()
        expect(explorer.locator(".provena-quicklook")).to_contain_text("temperature_c", timeout=30_000)
        shot(page, "14-jupyterlab-commander")


DARK = """async () => { await window.jupyterapp.commands.execute('apputils:change-theme',
  {theme: 'JupyterLab Dark'}); }"""


BIG = 100_000  # entries in the big folder
SHM = Path("/dev/shm")  # tmpfs: 100,000 files in 0.6 s there, 4-20 s on this VM's throttled disk
SETUP = {"_esm", "_css", "_anywidget_id", "table_id", "_dom_classes", "actions"}  # once per table
COUNT_SENT = """import json, time
from provena_widgets import LocalBrowser
from provena_widgets.widgets.filetable import FileTable

sent = []  # (wall ms, bytes, what) of every message a FileTable sends: trait updates, row replies
_send = FileTable._send
def _counted(self, msg, buffers=None):
    what = msg.get("content", {}).get("type") or "+".join(msg.get("state", {}))
    sent.append((time.time() * 1000, len(json.dumps(msg)), what))
    _send(self, msg, buffers)
FileTable._send = _counted
print("counting")"""
FIRST_ROWS = """() => { const start = window.e2eStart, name = document.querySelector(
    '.jp-OutputArea-output [role=grid] [role=row][aria-rowindex="2"] .pw-name');
  return start !== undefined && name && name.offsetParent && /^f\\d{6}$/.test(name.textContent)
    && [performance.now() - start, Date.now()]; }"""  # truthy at the first frame showing a row


def _count(sizes: list[int]) -> str:
    return f"{len(sizes)} ({sum(sizes) / 1024:.1f} KB)"


def _start_cell(page: Any, index: int) -> None:
    """Start running one cell, without waiting for it; ``window.e2eStart`` is when it started."""
    page.evaluate(
        """async (index) => { const app = window.jupyterapp, panel = app.shell.currentWidget;
        await panel.sessionContext.ready; panel.content.activeCellIndex = index;
        window.e2eStart = performance.now(); app.commands.execute('notebook:run-cell'); }""",
        index,
    )


def test_jupyterlab_100k_folder_sends_only_the_rows_in_view(page: Any) -> None:
    on_tmpfs = SHM.is_dir() and os.access(SHM, os.W_OK)
    with tempfile.TemporaryDirectory(prefix="provena-e2e-big-", dir=SHM if on_tmpfs else None) as tmp:
        root = Path(tmp)
        folder = root / "big"
        folder.mkdir()
        made = time.perf_counter()
        for index in range(BIG):
            os.close(os.open(folder / f"f{index:06d}", os.O_CREAT | os.O_WRONLY, 0o644))
        print(f"\n{BIG:,} empty files made in {folder} in {time.perf_counter() - made:.2f} s")
        cells = [
            ("code", COUNT_SENT),
            ("code", f"LocalBrowser(root={str(root)!r}, start={str(folder)!r})"),
            ("code", 'print("SENT", json.dumps(sent))'),
        ]
        notebook = write_notebook(root / "big.ipynb", cells)
        server = NotebookServer.lab(
            root, free_port(), TOKEN, notebook.name, "--LabApp.expose_app_in_browser=True"
        )
        with serving(server, jupyter_env(root), root / "lab.log"):
            page.goto(server.url)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
            page.wait_for_function(KERNEL_READY, timeout=90_000)
            outputs = page.locator(".jp-NotebookPanel .jp-Cell .jp-OutputArea")
            _run_cell(page, 0)  # imports done before the clock starts
            expect(outputs.nth(0)).to_contain_text("counting", timeout=60_000)

            _start_cell(page, 1)
            first_ms, shown_at = page.wait_for_function(FIRST_ROWS, polling="raf").json_value()
            table = outputs.nth(1).get_by_role("grid")
            rows = table.get_by_role("row")
            expect(rows.nth(1)).to_contain_text(re.compile(r"^f\d{6}"))
            print(f"first rows in the page {first_ms / 1000:.2f} s after the cell started")
            assert first_ms < 5_000

            status = outputs.nth(1).locator(".provena-status")
            expect(status).to_contain_text(f"{BIG} items in {folder}", timeout=90_000)  # all listed
            expect(table).to_have_attribute("aria-rowcount", str(BIG + 1))  # and the header row
            expect(cell(table, "f000000")).to_be_visible()
            expect(row(table, 1)).to_contain_text("f000001")
            listed = rows.count()
            assert listed < 200

            scrolled_at = page.evaluate("Date.now()")
            table.press("End")  # the cursor to the last row, and the view with it
            expect(cell(table, "f099999")).to_be_visible(timeout=30_000)
            expect(row(table, BIG - 1)).to_have_attribute("aria-selected", "true")
            expect(cell(table, "f000000")).to_have_count(0)  # the top's rows went
            expect(table).to_have_attribute("aria-rowcount", str(BIG + 1))
            at_end = rows.count()
            assert at_end < 200

            _run_cell(page, 2)
            expect(outputs.nth(2)).to_contain_text("SENT", timeout=30_000)
            sent = json.loads(outputs.nth(2).inner_text().partition("SENT")[2])
        first = [size for at, size, _ in sent if at <= shown_at]
        setup = [size for _, size, what in sent if what in SETUP]
        loading = [size for at, size, _ in sent if shown_at < at <= scrolled_at]
        scroll = [size for at, size, _ in sent if at > scrolled_at]
        print("table messages, in order:", ", ".join(what for _, _, what in sent))
        print(
            f"rows in the page: {listed} at the top, {at_end} at the end (aria-rowcount {BIG + 1}); "
            f"table messages: {_count(first)} to the first rows, of which {_count(setup)} set the table up "
            f"(its JS, CSS, ids); {_count(loading)} while the rest was listed; {_count(scroll)} for End; "
            f"{len(sent)} in all"
        )
        assert len(first) + len(scroll) < 30
        assert len(sent) < 60
