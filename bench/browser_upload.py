"""Upload from this computer through the browser (ThisComputer in JupyterLab, headless chromium)
against the kernel-side ``store.upload`` of the same file, both to ``rclone serve s3`` on loopback.

    PATH=.venv-bench/bin:$PATH .venv/bin/python -m bench.browser_upload [--mib 256] [--rounds 2]

Each round times one kernel-side upload, then one browser upload, so the two of a round share the
machine's load (other work on a shared machine moves both); the ratio is taken per round.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from provena_widgets import Credentials, DatasetStore
from provena_widgets.sandbox.jupyter import NotebookServer, write_notebook
from provena_widgets.sandbox.s3server import free_port

from .server import ACCESS_KEY, SECRET_KEY, RcloneServer

LOCATION = "s3://bench-browser/datasets/10378-1-1/"
CELL = """import os
from provena_widgets import Credentials, DatasetStore
from provena_widgets.widgets.computer import ThisComputer
keys = Credentials(os.environ['BENCH_AK'], os.environ['BENCH_SK'])
store = DatasetStore(keys, os.environ['BENCH_LOCATION'], endpoint_url=os.environ['BENCH_ENDPOINT'])
ThisComputer(store, target='browser/', overwrite='overwrite')"""
KERNEL_READY = """() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const n = p && p.querySelector('.jp-KernelName');
  const i = p && p.querySelector('.jp-Notebook-ExecutionIndicator');
  return !!(n && i && !/No Kernel/.test(n.textContent) && i.dataset.status === 'idle'); }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.mib * 2**20
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        root = Path(tmp)
        source = root / "big.bin"
        with source.open("wb") as out:
            for _ in range(size // 2**20):
                out.write(os.urandom(2**20))
        (root / "s3" / "bench-browser").mkdir(parents=True)
        with RcloneServer(root / "s3") as server:
            store = DatasetStore(
                Credentials(ACCESS_KEY, SECRET_KEY), LOCATION, endpoint_url=server.endpoint_url
            )
            rounds = []
            for _ in range(args.rounds):
                kernel, load = _kernel_upload(store, source), os.getloadavg()[0]
                browser = _browser_upload(root, server.endpoint_url, source)
                rounds.append((kernel, load, browser, os.getloadavg()[0]))
    mb = size / 1e6
    print(f"{size / 2**20:.0f} MiB on loopback (rclone serve s3), {args.rounds} rounds:")
    for kernel, kernel_load, browser, browser_load in rounds:
        print(
            f"  kernel-side store.upload {mb / kernel:5.0f} MB/s (load {kernel_load:4.1f}), "
            f"browser upload {mb / browser:5.0f} MB/s (load {browser_load:4.1f}): {kernel / browser:.2f}x"
        )
    ratios = [kernel / browser for kernel, _, browser, _ in rounds]
    print(f"  ratio median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x")


def _kernel_upload(store: DatasetStore, source: Path) -> float:
    started = time.monotonic()
    report = store.upload([source], to="kernel/", overwrite="overwrite", progress=None)
    assert report.ok, report.files
    return time.monotonic() - started


def _browser_upload(root: Path, endpoint: str, source: Path) -> float:
    """Seconds for the page to upload ``source``. Playwright sets the lab up and detaches; bare CDP
    drives the upload: Playwright enables DevTools' Network domain, which base64-encodes every
    websocket frame for it (no user's browser does that; it cut the measured rate to a third)."""
    notebook = write_notebook(root / "bench.ipynb", [("code", CELL)])
    env = {**os.environ, "BENCH_AK": ACCESS_KEY, "BENCH_SK": SECRET_KEY, "BENCH_LOCATION": LOCATION,
           "BENCH_ENDPOINT": endpoint, "JUPYTER_CONFIG_DIR": str(root / "config"),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime")}  # fmt: skip
    server = NotebookServer.lab(root, free_port(), "bench", notebook.name)
    port = free_port()
    chromium = subprocess.Popen(
        [os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "chromium", "--headless=new",
         "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--remote-debugging-port={port}",
         f"--user-data-dir={tempfile.mkdtemp(dir=root)}", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with (root / "lab.log").open("wb") as log:
        server.start(env, log)
        try:
            with sync_playwright() as p:
                browser = _connect(p, port)
                page = browser.contexts[0].pages[0]
                page.goto(server.url)
                page.wait_for_function(KERNEL_READY, timeout=90_000)
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                widget = page.locator(".jp-OutputArea-output .provena-computer")
                expect(widget.get_by_role("button", name="Upload from this computer")).to_be_visible(
                    timeout=90_000
                )
            return _cdp_upload(port, server.url, source)
        finally:
            chromium.terminate()
            chromium.wait()
            server.stop()


def _connect(p: Playwright, port: int) -> Browser:
    deadline = time.monotonic() + 30
    while True:
        try:
            return p.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _cdp_upload(port: int, url: str, source: Path) -> float:
    """Pick ``source`` in the widget over bare CDP (no Network domain) and time the upload."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
        targets = json.load(response)
    target = next(t for t in targets if t["type"] == "page" and t["url"].startswith(url.split("?")[0][:30]))
    cdp = websocket.create_connection(target["webSocketDebuggerUrl"], max_size=None)
    ids = itertools.count(1)

    def call(method: str, **params: Any) -> Any:
        number = next(ids)
        cdp.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(cdp.recv())
            if message.get("id") == number:
                assert "error" not in message, message
                return message["result"]

    try:
        root = call("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = call("DOM.querySelector", nodeId=root, selector=".provena-computer input.pw-files")["nodeId"]
        started = time.monotonic()
        call("DOM.setFileInputFiles", nodeId=node, files=[str(source)])
        status = "document.querySelector('.provena-computer .pw-status').textContent"
        while "1 transferred" not in call("Runtime.evaluate", expression=status)["result"]["value"]:
            if time.monotonic() - started > 600:
                raise TimeoutError("the browser upload did not finish")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        cdp.close()


if __name__ == "__main__":
    main()
