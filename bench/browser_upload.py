"""Upload from this computer through the browser (ThisComputer in JupyterLab, headless chromium)
against the kernel-side ``store.upload`` of the same file, both to ``rclone serve s3`` on loopback.

    PATH=.venv-bench/bin:$PATH .venv/bin/python -m bench.browser_upload [--mib 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

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
    size = parser.parse_args().mib * 2**20
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
            kernel = min(_kernel_upload(store, source) for _ in range(2))
            browser = min(_browser_upload(root, server.endpoint_url, source) for _ in range(2))
    mb = size / 1e6
    print(f"{size / 2**20:.0f} MiB, best of 2 on loopback (rclone serve s3):")
    print(f"  kernel-side store.upload  {kernel:6.1f} s  {mb / kernel:5.0f} MB/s")
    print(f"  browser upload            {browser:6.1f} s  {mb / browser:5.0f} MB/s  {kernel / browser:.2f}x")


def _kernel_upload(store: DatasetStore, source: Path) -> float:
    started = time.monotonic()
    report = store.upload([source], to="kernel/", overwrite="overwrite", progress=None)
    assert report.ok, report.files
    return time.monotonic() - started


def _browser_upload(root: Path, endpoint: str, source: Path) -> float:
    notebook = write_notebook(root / "bench.ipynb", [("code", CELL)])
    env = {**os.environ, "BENCH_AK": ACCESS_KEY, "BENCH_SK": SECRET_KEY, "BENCH_LOCATION": LOCATION,
           "BENCH_ENDPOINT": endpoint, "JUPYTER_CONFIG_DIR": str(root / "config"),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime")}  # fmt: skip
    server = NotebookServer.lab(root, free_port(), "bench", notebook.name)
    with (root / "lab.log").open("wb") as log:
        server.start(env, log)
        try:
            with sync_playwright() as p:
                chromium = p.chromium.launch(
                    executable_path=os.environ.get("CHROMIUM_PATH") or shutil.which("chromium"),
                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
                )
                page = chromium.new_page(viewport={"width": 1280, "height": 900})
                page.goto(server.url)
                page.wait_for_function(KERNEL_READY, timeout=90_000)
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
                widget = page.locator(".jp-OutputArea-output .provena-computer")
                expect(widget.get_by_role("button", name="Upload from this computer")).to_be_visible(
                    timeout=90_000
                )
                started = time.monotonic()
                widget.locator("input.pw-files").set_input_files(str(source))
                expect(widget.get_by_role("status")).to_contain_text("1 transferred", timeout=600_000)
                seconds = time.monotonic() - started
                chromium.close()
        finally:
            server.stop()
    return seconds


if __name__ == "__main__":
    main()
