"""A real JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from npm)
on 127.0.0.1: a user logs in, opens a notebook on their server through the hub's proxy, uploads a
file from "this computer" into the dataset with ThisComputer and downloads it back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import KERNEL_READY, _run_cell, browser, demo, expect, page  # noqa: F401 (fixtures)
from test_browser_computer import ADD_CELLS, CELLS, dataset_file

from provena_widgets.sandbox.jupyter import write_notebook
from provena_widgets.sandbox.s3server import LocalS3Server, free_port

pytest.importorskip("jupyterhub", reason="jupyterhub is not installed (pip install -e .[dev])")
PROXY = shutil.which("configurable-http-proxy")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        PROXY is None,
        reason="configurable-http-proxy not found (npm install -g configurable-http-proxy): hub test skipped",
    ),
]
CONFIG = """c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.db_url = "sqlite:///{root}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{root}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.default_url = "/lab"
c.Spawner.args = ["--allow-root", "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True"]
c.Spawner.environment = {environment!r}
c.Spawner.http_timeout = 90
c.Spawner.start_timeout = 120
"""


@pytest.fixture
def hub(demo: Any) -> Iterator[tuple[str, Path]]:  # noqa: F811
    """JupyterHub on a free port; yields its URL and the folder that holds the users' homes."""
    root, env, _ = demo
    port = free_port()
    keep = ("PROVENA_DEMO_SESSION", "JUPYTER_CONFIG_DIR")
    config = CONFIG.format(
        port=port, hub_port=free_port(), proxy_port=free_port(), root=root,
        environment={name: env[name] for name in keep},
    )  # fmt: skip
    (root / "hub_config.py").write_text(config)
    (root / "home" / "alice").mkdir(parents=True)
    hub_env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    with (root / "hub.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(root / "hub_config.py")], cwd=root, env=hub_env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for(f"http://127.0.0.1:{port}/hub/api", process, root / "hub.log")
            yield f"http://127.0.0.1:{port}", root / "home"
        finally:
            process.terminate()  # the hub stops the users' servers and its proxy
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"jupyterhub did not start: {log.read_text()[-3000:]}")


def test_a_hub_user_uploads_from_and_downloads_to_this_computer(
    hub: tuple[str, Path],
    demo: Any,  # noqa: F811
    page: Any,  # noqa: F811
    s3_server: LocalS3Server,
    tmp_path: Path,
) -> None:
    url, homes = hub
    _, _, session = demo
    notebook = write_notebook(homes / "alice" / "computer.ipynb", CELLS[:1])
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 2**20 + 5))
    page.goto(f"{url}/hub/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("any")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/user/alice/lab**", timeout=120_000)  # the user's server, through the proxy
    page.goto(f"{url}/user/alice/lab/tree/{notebook.name}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_function(KERNEL_READY, timeout=90_000)
    _run_cell(page, 0)
    widget = page.locator(".jp-OutputArea-output .provena-computer")
    status = widget.get_by_role("status")
    widget.locator("input.pw-files").set_input_files(str(big))
    expect(status).to_contain_text("1 transferred", timeout=120_000)
    assert dataset_file(s3_server, session, "incoming/big.bin") == big.read_bytes()

    page.evaluate(ADD_CELLS, [source for _, source in CELLS[1:2]])
    page.evaluate("() => { delete window.showSaveFilePicker; }")  # the Blob path: the test reads the file
    with page.expect_download(timeout=120_000) as download:
        _run_cell(page, 1)
    assert Path(download.value.path()).read_bytes() == big.read_bytes()
