"""Aggregate throughput against the number of Dask workers, each worker on a throttled link of its own.

    .venv/bin/python -m bench.cluster_scaling [--workers 1 2 4 8] [--rate-mib 10] [--repeats 1]

The store is given one endpoint, so every worker talks to the same address: there a
:mod:`bench.links` proxy traces each connection to its process and gives every process its own
``--rate-mib`` line each way, while the ``rclone serve s3`` behind it is not throttled. For each
worker count: a ``LocalCluster`` of worker processes (one thread each), then each workload up and
down through the throttled links, through the proxy unthrottled, and straight to the server (then
the server and the cores it shares are the limit). A fresh server and proxy for every run; files
and server data on tmpfs. Writes ``cluster-scaling.{json,md,png}`` into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from distributed import Client, LocalCluster

from provena_widgets import Credentials, DatasetLocation, DatasetStore, TransferSettings

from .links import listener_pid
from .scaling_report import write
from .server import ACCESS_KEY, SECRET_KEY, RcloneServer
from .workloads import MiB, Workload

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench"
WORKLOADS = {  # 256 MiB each: small files; multipart files; one file (spread by parts where cluster= does)
    w.name: w
    for w in (
        Workload("64x4MiB", 64, 4 * MiB),
        Workload("8x32MiB", 8, 32 * MiB),
        Workload("1x256MiB", 1, 256 * MiB),
    )
}
CREDENTIALS = Credentials(ACCESS_KEY, SECRET_KEY)
TICK = os.sysconf("SC_CLK_TCK")
MODES = ("throttled", "unthrottled", "direct")  # each worker's own link; the proxy only; no proxy


class Links:
    """A :mod:`bench.links` proxy process in front of ``target_port``; ``close()`` returns its counts."""

    def __init__(self, target_port: int, rate_mib: float | None) -> None:
        rate = ["--rate-mib", str(rate_mib)] if rate_mib else []
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.links", str(target_port), *rate],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert self._process.stdout is not None
        self.endpoint_url = f"http://127.0.0.1:{self._process.stdout.readline().split()[1]}"

    def close(self) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.close()
        summary: dict[str, Any] = json.loads(self._process.stdout.readline())
        self._process.wait(10)
        return summary


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def transfer(store: DatasetStore, client: Client, op: str, local: Path) -> tuple[float, float]:
    """When one upload of ``local``'s files, or one download of the store's into ``local``, began
    and ended (``time.monotonic()``, the clock ``bench.links`` uses)."""
    if op == "up":
        sources: list[str | Path] = sorted(local.iterdir())
        started = time.monotonic()
        report = store.upload(sources, cluster=client, overwrite="overwrite", progress=None)
    else:
        keys = [entry.key for entry in store.list()]
        started = time.monotonic()
        report = store.download(keys, to=local, cluster=client, overwrite="overwrite", progress=None)
    ended = time.monotonic()
    if not report.ok:
        raise SystemExit(f"{op} failed: {report.summary()}")
    return started, ended


def run(
    client: Client, work: Path, workload: Workload, op: str, mode: str, rate_mib: float
) -> dict[str, Any]:
    """One transfer on a fresh server (and proxy, unless ``mode`` is direct): its throughput, CPU,
    and each process's link."""
    server_dir, down = work / "server", work / "down"
    prefix = f"seed-{workload.name}/" if op == "down" else f"up-{workload.name}/"
    shutil.rmtree(down, ignore_errors=True)
    down.mkdir(parents=True)
    with RcloneServer(server_dir) as server:
        port = urlsplit(server.endpoint_url).port or 0
        rclone = listener_pid(port)
        proxy = None if mode == "direct" else Links(port, rate_mib if mode == "throttled" else None)
        store = DatasetStore(
            CREDENTIALS, DatasetLocation(BUCKET, prefix),
            endpoint_url=proxy.endpoint_url if proxy else server.endpoint_url,
            region="us-east-1", settings=TransferSettings(journal_dir=work / "journal"),
        )  # fmt: skip
        workers_before, load = client.run(time.process_time), os.getloadavg()[0]
        started, ended = transfer(store, client, op, work / "local" / workload.name if op == "up" else down)
        workers_cpu = sum(client.run(time.process_time).values()) - sum(workers_before.values())
        server_cpu = process_cpu(rclone)
        links: dict[str, Any] = proxy.close() if proxy else {"cpu_s": 0.0, "processes": {}}
    if op == "up":
        shutil.rmtree(server_dir / BUCKET / prefix, ignore_errors=True)
    shutil.rmtree(down, ignore_errors=True)
    seconds = ended - started
    return {
        "workload": workload.name, "op": op, "workers": len(workers_before), "mode": mode,
        "rate_MiBps": rate_mib if mode == "throttled" else None,
        "seconds": round(seconds, 3), "MiBps": round(workload.total_bytes / MiB / seconds, 2),
        "began": round(started, 3), "ended": round(ended, 3),
        "cpu_s": {"workers": round(workers_cpu, 2), "proxy": links["cpu_s"], "server": round(server_cpu, 2)},
        "load_1min_before": round(load, 2), "links": label(links["processes"], client),
    }  # fmt: skip


def label(processes: dict[str, Any], client: Client) -> list[dict[str, Any]]:
    """The proxy's counts per process, named: a worker (in address order), the kernel, unknown, other."""
    names = {str(pid): f"worker {i + 1}" for i, (_, pid) in enumerate(sorted(client.run(os.getpid).items()))}
    names[str(os.getpid())] = "kernel"
    names["0"] = "unknown"  # bench.links found no owner
    named = sorted(processes.items(), key=lambda item: names.get(item[0], "~"))
    return [{"process": names.get(pid, "other"), "pid": int(pid), **counts} for pid, counts in named]


def code_origin() -> str:
    """The folder ``provena_widgets`` is imported from (the kernel's and every worker's must agree)."""
    import provena_widgets

    return str(Path(provena_widgets.__file__).parent)


def prepare(work: Path, workloads: list[Workload]) -> None:
    """Write the workloads' files once, and seed each for downloads on the server's disk."""
    for workload in workloads:
        local = workload.create(work / "local")
        workload.seed(local, work / "server" / BUCKET, f"seed-{workload.name}", work / "state")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", nargs="*", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--rate-mib", type=float, default=10.0, help="each link's MiB/s, each way")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workloads", nargs="*", choices=list(WORKLOADS), default=["64x4MiB", "8x32MiB"])
    parser.add_argument("--ops", nargs="*", choices=["up", "down"], default=["up", "down"])
    parser.add_argument("--work", type=Path, default=Path("/dev/shm/provena-cluster-scaling"))
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--note", default="", help="a line for the report: which code was measured")
    parser.add_argument("--report-from", type=Path, help="only rebuild the report from a results JSON")
    args = parser.parse_args()
    if args.report_from:
        write(json.loads(args.report_from.read_text()), args.results)
        return
    (args.work / "state").mkdir(parents=True, exist_ok=True)
    workloads = [WORKLOADS[name] for name in args.workloads]
    prepare(args.work, workloads)
    began, runs = time.monotonic(), []
    for count in args.workers:
        with (
            LocalCluster(n_workers=count, threads_per_worker=1, processes=True, memory_limit=0,
                         dashboard_address=None, silence_logs=40) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            client.run(importlib.import_module, "provena_widgets.cluster.worker")  # imports are not timed
            if set(client.run(code_origin).values()) != {code_origin()}:
                raise SystemExit("The workers import another provena_widgets than this process.")
            for workload in workloads:
                for op in args.ops:
                    for _ in range(args.repeats):
                        for mode in MODES:
                            runs.append(run(client, args.work, workload, op, mode, args.rate_mib))
                            print(json.dumps(runs[-1]), flush=True)
    conditions = {
        "command": f"python -m bench.cluster_scaling --workers {' '.join(map(str, args.workers))} "
        f"--rate-mib {args.rate_mib:g} --repeats {args.repeats} --workloads {' '.join(args.workloads)} "
        f"--ops {' '.join(args.ops)}",
        "cores": os.cpu_count(), "minutes": round((time.monotonic() - began) / 60, 1),
        "rate_MiBps": args.rate_mib, "repeats": args.repeats, "code": code_origin(), "note": args.note,
    }  # fmt: skip
    write({"conditions": conditions, "runs": runs}, args.results)


if __name__ == "__main__":
    main()
