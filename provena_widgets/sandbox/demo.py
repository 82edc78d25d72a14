"""The demo: a local S3 server and Provena stand-in with a sample dataset, then the Explorer.

``python -m provena_widgets.sandbox.demo`` (what ``scripts/demo`` runs). ``--headless`` instead
uploads and downloads the sample folder from Python, printing progress; ``--hub`` starts JupyterHub
for the users alice and bob. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from ..store import DatasetStore
from .provena_standin import demo_world
from .s3server import LocalS3Server
from .sample import seed
from .session import DemoSession

BUCKET = "rrap-storage-bucket"
HANDLE = "10378.1/1234567"


def run_headless(store: DatasetStore, workdir: Path) -> None:
    print(f"Dataset folder: {store.location.s3_uri} at {store.endpoint_url}")
    for entry in store.list():
        print(f"  {'[dir] ' if entry.is_dir else '      '}{entry.name}")
    print("Downloading the whole dataset folder...")
    report = store.download([""], to=workdir / "download")
    print(report.summary())
    results = workdir / "results"
    results.mkdir()
    (results / "summary.csv").write_text("site,mean_temperature_c\nHeron,26.1\n")
    print("Uploading a results folder...")
    print(store.upload([results], to="analysis/").summary())
    print("The dataset folder now holds:", ", ".join(e.name for e in store.list()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--voila", action="store_true", help="open the Explorer as a Voila dashboard")
    mode.add_argument("--headless", action="store_true", help="no Jupyter: transfer from Python")
    mode.add_argument("--hub", action="store_true", help="JupyterHub for the users alice and bob")
    parser.add_argument("--port", type=int, default=8888, help="port for JupyterLab, Voila or the hub")
    parser.add_argument("--large-mb", type=int, default=50, help="size of the sample's large file")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind, so the servers are stopped too

    with (
        LocalS3Server() as server,
        demo_world(server, BUCKET) as stand_in,
        tempfile.TemporaryDirectory(prefix="provena-demo-") as tmp,
    ):
        session = DemoSession.create(server, stand_in, HANDLE)
        session.save(Path(tmp) / "demo-session.json")
        seed(server.admin_client(), session.location, args.large_mb * 1024 * 1024)
        if args.headless:
            run_headless(session.store(), Path(tmp))
            return
        if args.hub:
            from .hub import serve_hub

            serve_hub(stand_in, server, Path(tmp), args.port, users=("alice", "bob"))
            return
        from .jupyter import serve_demo

        serve_demo(session, Path(tmp), voila=args.voila, port=args.port)


if __name__ == "__main__":
    main()
