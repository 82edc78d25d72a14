"""A real JupyterHub with two users (sandbox.hub: DummyAuthenticator, SimpleLocalProcessSpawner,
configurable-http-proxy from npm) on 127.0.0.1. Each user, in a browser context of their own, logs in
to the hub, opens the Explorer notebook through the hub's proxy, logs in to Provena, uploads a 200 MB
file from "this computer" and downloads it back; bytes are checked in S3 and in the downloads. And
``scripts/demo --hub``: its hub serves a user, and SIGTERM stops every process it started."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SAMPLE
from test_browser import KERNEL_READY, _run_cell, browser, expect, user_page  # noqa: F401 (fixture)

from provena_widgets.sandbox.hub import NOTEBOOK, Hub, descendants, sandbox_environment, still_running
from provena_widgets.sandbox.provena_standin import Dataset, ProvenaStandIn
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
MB = 10**6
BOBS = "10378.1/3000001"  # a dataset bob administers (demo_world's bob may write none)
TEST_ARGS = ("--LabApp.expose_app_in_browser=True",)  # window.jupyterapp, to run cells
ADD_CELL = """(source) => { const model = window.jupyterapp.shell.currentWidget.model.sharedModel;
  model.insertCell(model.cells.length, { cell_type: 'code', source }); return model.cells.length - 1; }"""


@pytest.fixture
def hub(provena: ProvenaStandIn, s3_server: LocalS3Server, tmp_path: Path) -> Iterator[Hub]:
    with Hub(
        tmp_path / "hub", ("alice", "bob"), sandbox_environment(provena, s3_server), server_args=TEST_ARGS
    ) as running:
        yield running


def open_explorer(page: Any, hub: Hub, user: str) -> Any:
    """Sign in to the hub as ``user`` (the server starts, the notebook opens) and run the Explorer."""
    page.goto(f"{hub.url}/hub/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill("any")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/user/{user}/lab/tree/{NOTEBOOK}", timeout=120_000)  # through the proxy
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_function(KERNEL_READY, timeout=90_000)
    _run_cell(page, 1)
    return page.locator(".jp-OutputArea-output .provena-explorer")


def provena_login(page: Any, explorer: Any, person: str) -> None:
    """Log in to Provena from the Explorer: open its link in another tab and approve as ``person``."""
    explorer.locator(".provena-login").click()
    link = explorer.locator(".provena-login-status a")
    expect(link).to_be_visible(timeout=90_000)
    approval = page.context.new_page()
    approval.goto(link.get_attribute("href"))
    approval.locator("select[name=username]").select_option(person)
    approval.locator("#approve").click()
    expect(approval.locator("body")).to_contain_text("go back to the notebook")
    approval.close()
    expect(explorer.locator(".provena-login-status")).to_contain_text(
        f"Logged in as {person}", timeout=30_000
    )


def run_new_cell(page: Any, source: str) -> Any:
    """Append a code cell to the open notebook, run it, and return its output area."""
    index = page.evaluate(ADD_CELL, source)
    _run_cell(page, index)
    return page.locator(".jp-NotebookPanel .jp-Cell").nth(index).locator(".jp-OutputArea-output")


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their SHA-256."""
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for start in range(0, size, 8 << 20):
            chunk = os.urandom(min(8 << 20, size - start))
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def sha256_of(chunks: Any) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as source:
        return sha256_of(iter(lambda: source.read(8 << 20), b""))


def assert_private_cache(home: Path, uid: int) -> None:
    """The user's Provena login is kept in their own home: a 0600 file in a 0700 folder they own."""
    cache = home / ".config/provena-widgets/tokens.json"
    for path, mode in ((cache, 0o600), (cache.parent, 0o700)):
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (mode, uid), path


@pytest.mark.timeout(900)
def test_two_hub_users_upload_from_and_download_to_their_computers(
    hub: Hub,
    provena: ProvenaStandIn,
    s3_server: LocalS3Server,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    sample = provena.datasets[SAMPLE]
    provena.users["bob"].append("entity-registry-write")  # bob may write his own dataset...
    provena.add_dataset(
        BOBS, Dataset("Bob's field notes", sample.bucket, "datasets/10378-1-3000001/", {"bob": ["admin"]})
    )
    files = {user: tmp_path / "computers" / user / f"{user}-200mb.bin" for user in ("alice", "bob")}
    digests = {user: random_file(path, 200 * MB + 7) for user, path in files.items()}
    with user_page(browser) as alice, user_page(browser) as bob:
        pages = {"alice": alice, "bob": bob}
        explorers = {user: open_explorer(page, hub, user) for user, page in pages.items()}
        for user, page in pages.items():
            provena_login(page, explorers[user], user)
        bobs = explorers["bob"]  # bob's kernel holds bob's login, not alice's: the sample is read only
        expect(bobs.locator(".provena-write-reason")).to_contain_text(
            "dataset-data-write role", timeout=30_000
        )
        expect(bobs.locator(".provena-generate-write")).to_be_disabled()
        bobs.locator(".provena-handle input").fill(BOBS)
        bobs.locator(".provena-handle input").press("Enter")
        expect(bobs.locator(".provena-dataset-name")).to_contain_text("Bob's field notes", timeout=30_000)
        for explorer in explorers.values():
            explorer.locator(".provena-generate-write").click()
            expect(explorer.locator(".provena-computer input.pw-files")).to_be_attached(timeout=60_000)
        started = time.monotonic()
        for user, explorer in explorers.items():  # both uploads run at once
            explorer.locator(".provena-computer input.pw-files").set_input_files(str(files[user]))
        for explorer in explorers.values():
            expect(explorer.locator(".provena-computer").get_by_role("status")).to_contain_text(
                "1 transferred", timeout=600_000
            )
        print(f"2 x 200 MB uploaded at once in {time.monotonic() - started:.1f} s")
        admin = s3_server.admin_client()
        for user, handle in (("alice", SAMPLE), ("bob", BOBS)):
            key = provena.datasets[handle].path + files[user].name
            body = admin.get_object(Bucket=sample.bucket, Key=key)["Body"]
            assert sha256_of(body.iter_chunks(8 << 20)) == digests[user], key

        # Both ways down: alice's straight from S3 through a presigned URL (the page reaches the
        # loopback endpoint), bob's through the kernel and the hub's proxy, as where the page
        # cannot reach S3, into a Blob rather than a save dialog.
        for user, page in pages.items():
            started = time.monotonic()
            page.evaluate("() => { delete window.showSaveFilePicker; }")
            via_kernel = user == "bob"
            with page.expect_download(timeout=300_000) as download:
                run_new_cell(
                    page,
                    f"explorer.computer.send_to_computer({files[user].name!r}, via_kernel={via_kernel})",
                )
            assert download.value.url.startswith(s3_server.endpoint_url) != via_kernel
            assert download.value.suggested_filename == files[user].name
            assert file_sha256(Path(download.value.path())) == digests[user]  # the browser's downloads
            way = "through the kernel" if via_kernel else "from S3"
            print(f"{user}: 200 MB downloaded {way} in {time.monotonic() - started:.1f} s")
    for user in pages:
        assert_private_cache(hub.home(user), os.getuid())


def wait_until_served(
    session: requests.Session, url: str, where: str, process: subprocess.Popen[bytes]
) -> str:
    """Poll ``url`` until it answers 200 from a URL starting with ``where``; the page's text."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the demo exited"
        try:
            response = session.get(url, timeout=10)
            if response.status_code == 200 and response.url.startswith(where):
                return response.text
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} was not served from {where} in time")


def test_demo_hub_serves_its_users_and_sigterm_stops_every_process(tmp_path: Path) -> None:
    """scripts/demo --hub: alice signs in and her server starts; SIGTERM ends the demo (and the
    Provena stand-in in it), S3, the hub, its proxy and alice's server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "provena_widgets.sandbox.demo",
        "--hub",
        f"--port={port}",
        "--large-mb=1",
    ]
    with (tmp_path / "demo.log").open("wb") as log:
        demo = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    try:
        session = requests.Session()
        page = wait_until_served(session, f"{base}/hub/login", f"{base}/hub/login", demo)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert xsrf is not None
        login = {"username": "alice", "password": "any", "_xsrf": xsrf.group(1)}
        session.post(f"{base}/hub/login", data=login, timeout=60).raise_for_status()  # and /hub/spawn
        wait_until_served(session, f"{base}/user/alice/lab", f"{base}/user/alice/lab", demo)  # not the hub's
        tree = descendants(demo.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in tree]
        servers = (b"jupyterhub\0-f", b"configurable-http-proxy", b"jupyterhub.singleuser", b"moto_presigned")
        for part in servers:
            assert any(part in command for command in commands), part
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(90) == 0
        assert still_running(tree) == []
        assert "Sign in as alice or bob" in (tmp_path / "demo.log").read_text()
    finally:
        if demo.poll() is None:  # the test failed before SIGTERM: end what it started
            for pid in [*descendants(demo.pid), demo.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            demo.wait()
