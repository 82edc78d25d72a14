"""The peers, each run in a process of its own: ``python -m bench.peers PEER up|down LOCAL BUCKET PREFIX``.

Credentials and endpoint come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
BENCH_ENDPOINT). Uploads copy the *contents* of LOCAL under PREFIX; downloads copy what is under
PREFIX into LOCAL. The process prints one JSON line of extra facts (e.g. progress events seen).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

Peer = Callable[[str, Path, str, str], dict[str, Any]]
ENDPOINT = os.environ.get("BENCH_ENDPOINT", "")
BIN = Path(sys.executable).parent


def _client(**config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"}, response_checksum_validation="when_required", **config
        ),
    )


def _files(local: Path) -> list[Path]:
    return sorted(path for path in local.rglob("*") if path.is_file())


def _keys(client: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [(item["Key"], item["Size"]) for item in page.get("Contents", [])]
    return found


def _target(local: Path, prefix: str, key: str) -> Path:
    path = local / key[len(prefix) :]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def s5cmd(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    base = [str(BIN / "s5cmd"), "--endpoint-url", ENDPOINT]
    if op == "up":
        subprocess.run(
            [*base, "cp", f"{local}/", f"s3://{bucket}/{prefix}"], check=True, stdout=subprocess.DEVNULL
        )
    else:
        subprocess.run(
            [*base, "cp", f"s3://{bucket}/{prefix}*", f"{local}/"], check=True, stdout=subprocess.DEVNULL
        )
    return {}


def _aws(args: list[str]) -> None:
    aws = os.environ.get("BENCH_AWS_CLI", "aws")
    subprocess.run([aws, "--endpoint-url", ENDPOINT, "--only-show-errors", *args], check=True)


def aws_cp(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    remote = f"s3://{bucket}/{prefix}"
    _aws(["s3", "cp", "--recursive", *((str(local), remote) if op == "up" else (remote, str(local)))])
    return {}


def aws_sync(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    remote = f"s3://{bucket}/{prefix}"
    _aws(["s3", "sync", *((str(local), remote) if op == "up" else (remote, str(local)))])
    return {}


def boto3_per_file(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    """One upload_file / download_file call per file, defaults: how most scripts are written."""
    client = _client()
    if op == "up":
        for path in _files(local):
            client.upload_file(str(path), bucket, prefix + path.relative_to(local).as_posix())
    else:
        for key, _ in _keys(client, bucket, prefix):
            client.download_file(bucket, key, str(_target(local, prefix, key)))
    return {}


def boto3_tuned(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    """One s3transfer TransferManager for all files, with a tuned TransferConfig."""
    from s3transfer.manager import TransferManager

    config = TransferConfig(max_concurrency=32, multipart_chunksize=16 * 1024 * 1024, max_io_queue=1000)
    client = _client(max_pool_connections=40)
    with TransferManager(client, config) as manager:
        futures = (
            [manager.upload(str(p), bucket, prefix + p.relative_to(local).as_posix()) for p in _files(local)]
            if op == "up"
            else [
                manager.download(bucket, k, str(_target(local, prefix, k)))
                for k, _ in _keys(client, bucket, prefix)
            ]
        )
        for future in futures:
            future.result()
    return {}


def naive_loop(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    """A plain put_object / get_object loop, one file after another."""
    client = _client()
    if op == "up":
        for path in _files(local):
            with path.open("rb") as body:
                client.put_object(Bucket=bucket, Key=prefix + path.relative_to(local).as_posix(), Body=body)
    else:
        for key, _ in _keys(client, bucket, prefix):
            with _target(local, prefix, key).open("wb") as out:
                for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1024 * 1024):
                    out.write(chunk)
    return {}


def s3fs_peer(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=ENDPOINT, config_kwargs={"s3": {"addressing_style": "path"}})
    if op == "up":
        fs.put(f"{local}/", f"{bucket}/{prefix}", recursive=True)
    else:
        fs.get(f"{bucket}/{prefix}", f"{local}/", recursive=True)
    return {}


def _store(bucket: str, prefix: str, verify: bool) -> Any:
    from provena_widgets import Credentials, DatasetLocation, DatasetStore, TransferSettings

    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    location = DatasetLocation(bucket, prefix)
    settings = TransferSettings(verify=verify)
    return DatasetStore(creds, location, endpoint_url=ENDPOINT, region="us-east-1", settings=settings)


def _ours(op: str, local: Path, bucket: str, prefix: str, progress: Any, verify: bool = True) -> float:
    """Returns the seconds the transfer itself took (after imports and set-up)."""
    store = _store(bucket, prefix, verify)
    started = time.perf_counter()
    if op == "up":
        report = store.upload([p for p in sorted(local.iterdir())], progress=progress, overwrite="overwrite")
    else:
        report = store.download(
            [e.key for e in store.list()], to=local, progress=progress, overwrite="overwrite"
        )
    if not report.ok:
        raise SystemExit(f"provena-widgets transfer failed: {report.summary()}")
    return time.perf_counter() - started


def provena_widgets(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    return {"transfer_s": round(_ours(op, local, bucket, prefix, None), 3)}


def provena_widgets_no_md5(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    """``TransferSettings(verify=False)``: downloads skip the MD5 check, as s5cmd and the CLI do."""
    return {"transfer_s": round(_ours(op, local, bucket, prefix, None, verify=False), 3)}


def provena_widgets_ui(op: str, local: Path, bucket: str, prefix: str) -> dict[str, Any]:
    """With a TransferPanel receiving every progress event, as in a notebook."""
    from provena_widgets.widgets.transfers import TransferPanel

    panel = TransferPanel()
    events: list[float] = []
    messages: list[str] = []  # each widget value change is one message to the browser
    for shown in (panel.total_bar, panel.total_label, panel.files_view, panel.log_view):
        shown.observe(lambda change: messages.append(change["name"]), names="value")

    def on_progress(event: Any) -> None:
        events.append(time.monotonic())
        panel._on_progress(event)

    elapsed = max(_ours(op, local, bucket, prefix, on_progress), 1e-9)
    return {
        "transfer_s": round(elapsed, 3),
        "progress_events": len(events),
        "events_per_second": round(len(events) / elapsed, 1),
        "ui_messages_per_second": round(len(messages) / elapsed, 1),
        "ui_messages": len(messages),
    }


PEERS: dict[str, Peer] = {
    "s5cmd": s5cmd,
    "aws-cli-cp": aws_cp,
    "aws-cli-sync": aws_sync,
    "boto3-per-file": boto3_per_file,
    "boto3-tuned": boto3_tuned,
    "s3fs": s3fs_peer,
    "naive-loop": naive_loop,
    "provena-widgets": provena_widgets,
    "provena-widgets+ui": provena_widgets_ui,
    "provena-widgets-no-md5": provena_widgets_no_md5,
}


def main() -> None:
    peer, op, local, bucket, prefix = sys.argv[1:6]
    facts = PEERS[peer](op, Path(local), bucket, prefix)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
