"""Real-browser tests: headless chromium drives the widgets in Voila and JupyterLab."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKET

from provena_widgets import DatasetLocation
from provena_widgets.sandbox.jupyter import write_demo_notebook
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
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
GALLERY = Path(__file__).resolve().parent.parent / "docs" / "gallery"
TOKEN = "e2e-token"
KERNEL_READY = """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const n = p && p.querySelector('.jp-KernelName');
  const i = p && p.querySelector('.jp-Notebook-ExecutionIndicator');
  return !!(n && i && !/No Kernel/.test(n.textContent) && i.dataset.status === 'idle'); }"""


def _start(command: list[str], ready: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(ready, timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    _stop(proc)
    raise RuntimeError(f"server not ready: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def demo(s3_server: LocalS3Server) -> Iterator[tuple[Path, dict[str, str], DemoSession]]:
    with tempfile.TemporaryDirectory(prefix="provena-e2e-") as tmp:
        root = Path(tmp)
        session = DemoSession(
            s3_server.endpoint_url,
            DatasetLocation.from_handle("10378.1/424242", bucket=BUCKET),
            s3_server.dataset_credentials(BUCKET, "datasets/10378-1-424242/"),
        )
        session.save(root / "session.json")
        seed(s3_server.admin_client(), session.location, large_size=1024)
        (root / "config").mkdir()
        settings = root / "config/lab/user-settings/@jupyterlab/apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            '{"fetchNews": "false", "checkForUpdates": false}'
        )
        widget_settings = root / "config/lab/user-settings/@jupyter-widgets/jupyterlab-manager"
        widget_settings.mkdir(parents=True)  # save widget state: the worst case for secrets
        (widget_settings / "plugin.jupyterlab-settings").write_text('{"saveState": true}')
        env = {
            **os.environ,
            SESSION_ENV: str(root / "session.json"),
            "JUPYTER_CONFIG_DIR": str(root / "config"),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        }
        yield root, env, session


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(
        lambda url: not re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", url), lambda r: r.abort()
    )
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


def test_voila_explorer_opens_on_the_dataset_and_navigates(demo: Any, page: Any) -> None:
    root, env, _ = demo
    notebook = write_demo_notebook(root)
    port = free_port()
    proc = _start(
        [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            "--Voila.port_retries=0",
            '--VoilaConfiguration.extension_denylist=["@jupyter-notebook/lab-extension", '
            '"@voila-dashboards/jupyterlab-preview"]',
        ],
        f"http://127.0.0.1:{port}/voila/static/voila.js",
        env,
        root / "voila.log",
    )
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        table = page.locator(".provena-table select")
        expect(table).to_contain_text("data/", timeout=90_000)
        expect(table).to_contain_text("metadata.json")
        page.screenshot(path=str(GALLERY / "voila-explorer.png"))
        table.select_option(label=table.locator("option", has_text="data/").inner_text())
        page.locator(".provena-open").click()
        expect(table).to_contain_text("temperature.csv", timeout=30_000)
        expect(page.locator(".provena-crumb")).to_have_count(2)
        page.screenshot(path=str(GALLERY / "voila-folder.png"))
    finally:
        _stop(proc)


def test_jupyterlab_paste_connect_and_save_keeps_no_secret(demo: Any, page: Any) -> None:
    root, env, session = demo
    creds = session.credentials
    nb = root / "paste.ipynb"
    code = f"from provena_widgets import Explorer\nExplorer(endpoint_url={session.endpoint_url!r})"
    nb.write_text(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
                },
                "cells": [
                    {
                        "cell_type": "code",
                        "id": "c1",
                        "metadata": {},
                        "execution_count": None,
                        "outputs": [],
                        "source": code,
                    }
                ],
            }
        )
    )
    port = free_port()
    proc = _start(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
        ],
        f"http://127.0.0.1:{port}/api/status?token={TOKEN}",
        env,
        root / "lab.log",
    )
    try:
        page.goto(f"http://127.0.0.1:{port}/lab/tree/paste.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        page.wait_for_function(KERNEL_READY, timeout=90_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        paste = page.locator(".jp-OutputArea-output .provena-paste textarea")
        expect(paste).to_be_visible(timeout=90_000)
        block = (
            f'export AWS_ACCESS_KEY_ID="{creds.access_key_id}"\n'
            f'export AWS_SECRET_ACCESS_KEY="{creds.secret_access_key}"\n'
            f'export AWS_SESSION_TOKEN="{creds.session_token}"\n'
            f"aws s3 ls {session.location.s3_uri}\n"
        )
        paste.fill(block)
        expect(page.locator(".provena-access-key input")).to_have_value(creds.access_key_id, timeout=30_000)
        page.locator(".provena-connect").click()
        expect(page.locator(".provena-table select")).to_contain_text("data/", timeout=60_000)
        page.screenshot(path=str(GALLERY / "jupyterlab-connected.png"))
        page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
        saved = nb.read_text()
        assert "application/vnd.jupyter.widget-state+json" in saved
        assert creds.access_key_id in saved  # the widget state was saved...
        assert creds.secret_access_key not in saved  # ...without the secret
        assert creds.session_token is not None and creds.session_token not in saved
    finally:
        _stop(proc)
