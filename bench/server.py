"""``rclone serve s3`` on 127.0.0.1: a fast S3-compatible server for benchmarks (not for tests)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "BENCHACCESSKEY000001"
SECRET_KEY = "benchsecretkey0000000000000000000000000"


def rclone_binary() -> str:
    found = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    if not found:
        raise SystemExit("rclone not found: install the benchmark extras (scripts/bench does).")
    return found


class RcloneServer:
    """Serves ``data_dir`` (one sub-folder per bucket) over S3 with SigV4 keys."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.endpoint_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> RcloneServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [rclone_binary(), "serve", "s3", "--addr", "127.0.0.1:0",
             "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", "/dev/null", str(self.data_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._process.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            found = re.search(r"Starting s3 server on \[(http://127\.0\.0\.1:\d+)/?\]", line)
            if found:
                self.endpoint_url = found.group(1)
                return self
            if not line and self._process.poll() is not None:
                break
        raise RuntimeError("rclone serve s3 did not start")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:  # busy with a client that hung: stop it hard
                self._process.kill()
                self._process.wait()
