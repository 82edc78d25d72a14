"""Serving the demo notebook in JupyterLab or Voila, until Ctrl-C."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .s3server import free_port
from .session import SESSION_ENV, DemoSession

DEMO_INTRO = (
    "# provena-widgets demo\n\nA local S3 server holds a sample Provena dataset folder. The Explorer "
    "below is already connected to it: browse, pick a local file or folder, Upload, select remote "
    "items, Download."
)
DEMO_CODE = (
    "from provena_widgets import Explorer\n"
    "from provena_widgets.sandbox.session import DemoSession\n\n"
    "demo = DemoSession.load()\n"
    "explorer = Explorer(demo.credentials, demo.location, endpoint_url=demo.endpoint_url)\n"
    "explorer"
)


def write_demo_notebook(folder: Path) -> Path:
    """A two-cell notebook (nbformat 4) that opens the Explorer on the demo session."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": DEMO_INTRO},
            {
                "cell_type": "code",
                "id": "explorer",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": DEMO_CODE,
            },
        ],
    }
    path = folder / "explorer-demo.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    return path


def serve_demo(session: DemoSession, folder: Path, *, voila: bool, port: int) -> None:
    notebook = write_demo_notebook(folder)
    port = port or free_port()
    token = secrets.token_urlsafe(16)
    env_note = {SESSION_ENV: str(folder / "demo-session.json")}
    if voila:
        command = [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            "--Voila.port_retries=0",
        ]
        url = f"http://127.0.0.1:{port}/"
        ready = url
    else:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
            "--allow-root",
        ]
        url = f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}"
        ready = f"http://127.0.0.1:{port}/api/status?token={token}"
    server = subprocess.Popen(command, env={**os.environ, **env_note}, stdin=subprocess.DEVNULL)
    try:
        _wait_ready(ready, server)
        print(
            f"\nThe demo is ready. Open this address in your browser:\n\n    {url}\n\nCtrl-C stops it.",
            flush=True,
        )
        server.wait()
    except KeyboardInterrupt:
        print("\nStopping the demo...")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the notebook server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the notebook server did not start in time")
