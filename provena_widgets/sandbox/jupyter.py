"""Serving the demo notebook in JupyterLab or Voila, until Ctrl-C."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .s3server import free_port, wait_for_url
from .session import SESSION_ENV, DemoSession

DEMO_CELLS: list[tuple[str, str]] = [
    (
        "markdown",
        "# provena-widgets demo\n\nA local S3 server holds a sample Provena dataset folder. The "
        "Explorer below is already connected to it: browse, pick a local file or folder, Upload, "
        "select remote items, Download.",
    ),
    (
        "code",
        "from provena_widgets import Explorer\n"
        "from provena_widgets.sandbox.session import DemoSession\n\n"
        "demo = DemoSession.load()\n"
        "explorer = Explorer(demo.credentials, demo.location, endpoint_url=demo.endpoint_url)\n"
        "explorer",
    ),
    (
        "markdown",
        "## Or log in to Provena, no copy-paste\n\nThis Explorer talks to a local Provena stand-in. "
        "Press **Log in**, open the link, choose *alice* and **Approve**, then **Generate write "
        "credentials**. (With a real deployment: `Explorer(provena=ProvenaConfig.for_domain(...))`.)",
    ),
    (
        "code",
        "Explorer(provena=demo.provena, handle=demo.handle, endpoint_url=demo.endpoint_url)",
    ),
]


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    """Write an nbformat-4 notebook of ``(kind, source)`` cells, not yet run."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": kind, "id": f"cell-{index}", "metadata": {}, "source": source}
            | ({"execution_count": None, "outputs": []} if kind == "code" else {})
            for index, (kind, source) in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


def write_demo_notebook(folder: Path) -> Path:
    """The demo notebook: an Explorer already connected, and one that logs in to Provena."""
    return write_notebook(folder / "explorer-demo.ipynb", DEMO_CELLS)


@dataclass
class NotebookServer:
    """JupyterLab or Voila on 127.0.0.1 as a child process: the demo's server and the tests'."""

    command: list[str]
    url: str  # what a person opens
    ready_url: str  # answers once the server is up
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def lab(cls, root: Path, port: int, token: str, open_path: str = "", *extra: str) -> NotebookServer:
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
            f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", *extra,
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        return cls(command, f"{base}/lab/tree/{open_path}?token={token}", f"{base}/api/status?token={token}")

    @classmethod
    def voila(cls, notebook: Path, port: int) -> NotebookServer:
        command = [
            sys.executable, "-m", "voila", str(notebook), "--no-browser", "--Voila.ip=127.0.0.1",
            f"--port={port}", "--Voila.port_retries=0",
            '--VoilaConfiguration.extension_denylist=["@jupyter-notebook/lab-extension", '
            '"@voila-dashboards/jupyterlab-preview"]',
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        return cls(command, f"{base}/", f"{base}/voila/static/voila.js")

    def start(
        self, env: dict[str, str], log: IO[bytes] | None = None, timeout: float = 120
    ) -> NotebookServer:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            self.command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        try:
            wait_for_url(self.ready_url, self.process, "the notebook server", timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM (which shuts kernels down too), then SIGKILL to the group if it lingers."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def serve_demo(session: DemoSession, folder: Path, *, voila: bool, port: int) -> None:
    """Serve the demo notebook until Ctrl-C."""
    notebook = write_demo_notebook(folder)
    port = port or free_port()
    if voila:
        server = NotebookServer.voila(notebook, port)
    else:
        server = NotebookServer.lab(folder, port, secrets.token_urlsafe(16), notebook.name)
    try:
        server.start({**os.environ, SESSION_ENV: str(folder / "demo-session.json")})
        print(f"\nThe demo is ready. Open this address in your browser:\n\n    {server.url}\n", flush=True)
        print("Ctrl-C stops it.", flush=True)
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        print("\nStopping the demo...")
    finally:
        server.stop()
