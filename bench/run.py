"""Run the benchmarks: every peer on the same local rclone server, alternating, several times.

``python -m bench.run`` (what ``scripts/bench`` runs); ``--quick`` for smaller workloads. Writes
``bench/results/results.md``, ``results.json`` and ``results.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .server import ACCESS_KEY, SECRET_KEY, RcloneServer
from .workloads import FULL, QUICK, MiB, Workload

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BUCKET = "bench"
DEFAULT_PEERS = ["s5cmd", "aws-cli-cp", "aws-cli-sync", "boto3-per-file", "boto3-tuned", "s3fs",
                 "naive-loop", "provena-widgets", "provena-widgets+ui", "provena-widgets-no-md5"]  # fmt: skip
DOWNLOAD_ONLY = {"provena-widgets-no-md5"}  # the same as provena-widgets for uploads


def measure(peer: str, op: str, local: Path, prefix: str, env: dict[str, str]) -> dict[str, Any]:
    """Run in a fresh process group so CPU and peak RSS are this run's alone."""
    runner = [sys.executable, "-c", _MEASURE, peer, op, str(local), prefix]
    try:
        done = subprocess.run(runner, env=env, cwd=HERE.parent, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 600 s"}
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return {"error": tail[0][:300] if tail else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_MEASURE = """
import json, os, resource, subprocess, sys, time
peer, op, local, prefix = sys.argv[1:5]
python = os.environ.get("BENCH_PYTHON_" + peer.upper().replace("-", "_"), sys.executable)
start = time.perf_counter()
done = subprocess.run([python, "-m", "bench.peers", peer, op, local, "bench", prefix],
                      capture_output=True, text=True)
wall = time.perf_counter() - start
if done.returncode:
    sys.stderr.write(done.stderr[-2000:]); sys.exit(1)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
facts = json.loads(done.stdout.strip().splitlines()[-1] or "{}")
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"seconds": wall, "cpu": cpu, "rss_mb": usage.ru_maxrss / 1024, **facts}))
"""


def ceilings(work: Path, size: int) -> dict[str, float]:
    """Raw loopback TCP throughput for the same bytes, and local disk write speed with fsync."""
    block = os.urandom(4 * MiB)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def sink() -> None:
        conn, _ = server.accept()
        while conn.recv(4 * MiB):
            pass
        conn.close()

    thread = threading.Thread(target=sink)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    started = time.perf_counter()
    for _ in range(size // len(block)):
        client.sendall(block)
    client.close()
    thread.join()
    tcp = size / (time.perf_counter() - started) / 1e6
    server.close()
    path = work / "disk-probe.bin"
    started = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    disk = size / (time.perf_counter() - started) / 1e6
    path.unlink()
    return {"loopback_tcp_MBps": round(tcp), "disk_write_fsync_MBps": round(disk)}


def make_listing_folder(server_dir: Path, keys: int) -> None:
    folder = server_dir / BUCKET / f"list{keys}"
    if not (server_dir.parent / f"list{keys}.made").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(keys):
            (folder / f"k{index:06d}").touch()
        (server_dir.parent / f"list{keys}.made").touch()


def listing(env: dict[str, str], keys: int) -> dict[str, Any]:
    """For a folder of ``keys`` keys in the browser widget: time to its first rows, the whole
    listing, and the messages the table sends to the browser for the first rows and ten scrolls."""
    done = subprocess.run(
        [sys.executable, "-c", _LISTING, f"list{keys}/"],
        env=env,
        cwd=HERE.parent,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_LISTING = """
import json, os, resource, sys, threading, time
from provena_widgets import Credentials, DatasetLocation, DatasetStore
from provena_widgets.widgets.browser import RemoteBrowser
creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
store = DatasetStore(creds, DatasetLocation("bench", sys.argv[1]), endpoint_url=os.environ["BENCH_ENDPOINT"],
                     region="us-east-1")
browser = RemoteBrowser()
table = browser.table
sent = []  # every message the table sends to the browser: trait updates and row replies
table.comm.send = lambda data=None, buffers=None, **_: sent.append(len(json.dumps(data)))
def ask(start):  # what the page sends for the block of 100 rows at ``start``
    table._handle_custom_msg({"type": "rows", "start": start, "count": 100}, [])
listed = []  # when the server's first page of the listing arrived
pages = store.iter_pages
def timed_pages(*args, **kwargs):
    for page in pages(*args, **kwargs):
        listed.append(time.perf_counter())
        yield page
store.iter_pages = timed_pages
shown = threading.Event()
start = time.perf_counter()
table.observe(lambda change: change["new"] and shown.set(), names="total")
browser.store = store
shown.wait(120)
ask(0)  # the page asks for the first rows as soon as it hears the total
first_rows = time.perf_counter() - start
first_messages, first_bytes = len(sent), sum(sent)
browser.wait(600)
whole = time.perf_counter() - start
loaded = len(sent)
ask(0)  # the loaded folder's first rows, then ten scrolls, each to rows no block holds yet
before, before_bytes = len(sent), sum(sent)
for scroll in range(1, 11):
    top = scroll * table.total // 11
    for block in range(max(0, top - 20) // 100, (top + 14 + 20) // 100 + 1):
        ask(block * 100)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"first_rows_s": round(first_rows, 3), "server_first_page_s": round(listed[0] - start, 3),
                  "first_rows_messages": first_messages,
                  "first_rows_kb": round(first_bytes / 1024, 1), "all_loaded_s": round(whole, 2),
                  "messages_while_loading": loaded, "ten_scrolls_messages": len(sent) - before,
                  "ten_scrolls_kb": round((sum(sent) - before_bytes) / 1024, 1),
                  "entries": len(browser.entries), "rss_mb": round(rss)}))
"""


def bench_env(endpoint_url: str) -> dict[str, str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "BENCH_ENDPOINT": endpoint_url,
           "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
           "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}  # fmt: skip
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def default_work() -> Path:
    """On tmpfs (/dev/shm) when it has room: a VM's throttled disk otherwise decides the small-file
    runs (the same client measured 290 and 1,025 files/s in two runs), not the clients."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 8 * 1024 * MiB:
        return shm / "provena-bench"
    return HERE / "work"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for trying things")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", nargs="*", default=DEFAULT_PEERS)
    parser.add_argument("--workloads", nargs="*", help="names to run (default: all)")
    parser.add_argument("--list-keys", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=default_work(), help="default: on tmpfs if it fits")
    parser.add_argument("--ops", nargs="*", default=["up", "down"], help="directions to run")
    parser.add_argument("--report-from", nargs="*", type=Path, help="only rebuild the report from run logs")
    parser.add_argument("--listing-only", action="store_true", help="only the --list-keys listing; no report")
    args = parser.parse_args(argv)
    if args.listing_only:
        make_listing_folder(args.work / "server", args.list_keys)
        with RcloneServer(args.work / "server") as server:
            print("listing:", listing(bench_env(server.endpoint_url), args.list_keys), flush=True)
        return
    if args.report_from:
        write_outputs(from_logs(args.report_from), args)
        return

    workloads: list[Workload] = [w for w in (QUICK if args.quick else FULL)
                                 if not args.workloads or w.name in args.workloads]  # fmt: skip
    work: Path = args.work
    (work / "state").mkdir(parents=True, exist_ok=True)
    server_dir = work / "server"
    on_tmpfs = str(work.resolve()).startswith("/dev/shm")
    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "work": "tmpfs" if on_tmpfs else "disk"},
        "runs": {},
    }
    (server_dir / BUCKET).mkdir(parents=True, exist_ok=True)
    # Everything read back is put on the server's disk before it starts: rclone caches listings.
    locals_ = {w.name: w.create(work / "local") for w in workloads}
    for workload in workloads:
        workload.seed(locals_[workload.name], server_dir / BUCKET, f"seed-{workload.name}", work / "state")
    if args.list_keys:
        make_listing_folder(server_dir, args.list_keys)
    results["ceilings"] = ceilings(work, 1024 * MiB if not args.quick else 256 * MiB)
    print("machine:", results["machine"], flush=True)
    print("ceilings:", results["ceilings"], flush=True)
    for workload in workloads:
        local = locals_[workload.name]
        for op in args.ops:
            peers = [peer for peer in args.peers if op == "down" or peer not in DOWNLOAD_ONLY]
            runs: dict[str, list[dict[str, Any]]] = {peer: [] for peer in peers}
            for repeat in range(args.repeats):
                for peer in peers:  # alternate peers within each round
                    prefix = f"up-{peer}-{repeat}/" if op == "up" else f"seed-{workload.name}/"
                    target = work / "down" / peer
                    shutil.rmtree(target, ignore_errors=True)
                    target.mkdir(parents=True)
                    # A fresh server for every run: rclone caches listings and slows down as
                    # uploads pile up, which would favour whoever runs first.
                    with RcloneServer(server_dir) as server:
                        result = measure(
                            peer, op, local if op == "up" else target, prefix, bench_env(server.endpoint_url)
                        )
                    if op == "up":
                        shutil.rmtree(server_dir / BUCKET / prefix, ignore_errors=True)
                    runs[peer].append(result)
                    print(workload.name, op, peer, repeat, result, flush=True)
            shutil.rmtree(work / "down", ignore_errors=True)
            results["runs"][f"{workload.name}/{op}"] = {
                "files": workload.files, "bytes": workload.total_bytes, "peers": summarise(runs, workload)
            }  # fmt: skip
    if args.list_keys:
        with RcloneServer(server_dir) as server:
            results["listing"] = listing(bench_env(server.endpoint_url), args.list_keys)
        print("listing:", results["listing"], flush=True)
    write_outputs(results, args)


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1))
    (RESULTS / "results.md").write_text(report(results, args))
    plot(results, RESULTS / "results.png")
    print((RESULTS / "results.md").read_text())


def from_logs(paths: list[Path]) -> dict[str, Any]:
    """Rebuild results from the lines a run printed (``workload op peer repeat {...}``)."""
    import ast

    workloads = {w.name: w for w in FULL + QUICK}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    results: dict[str, Any] = {"machine": {"cores": os.cpu_count()}, "runs": {}}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.startswith("machine:"):
                results["machine"] = ast.literal_eval(line.split(":", 1)[1].strip())
            elif line.startswith("ceilings:"):
                results["ceilings"] = ast.literal_eval(line.split(":", 1)[1].strip())
            elif line.startswith("listing:"):
                results["listing"] = ast.literal_eval(line.split(":", 1)[1].strip())
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[0] in workloads and parts[1] in ("up", "down"):
                runs.setdefault(f"{parts[0]}/{parts[1]}", {}).setdefault(parts[2], []).append(
                    ast.literal_eval(parts[4])
                )
    for name, by_peer in runs.items():
        workload = workloads[name.split("/")[0]]
        results["runs"][name] = {"files": workload.files, "bytes": workload.total_bytes,
                                 "peers": summarise(by_peer, workload)}  # fmt: skip
    return results


def summarise(runs: dict[str, list[dict[str, Any]]], workload: Workload) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for peer, results in runs.items():
        good = [r for r in results if "seconds" in r]
        if not good:
            summary[peer] = {"error": results[0].get("error", "failed") if results else "not run"}
            continue
        seconds = statistics.median(r["seconds"] for r in good)
        summary[peer] = {
            "seconds": round(seconds, 3),
            "MBps": round(workload.total_bytes / seconds / 1e6, 1),
            "files_per_s": round(workload.files / seconds, 1),
            "cpu_s_per_GB": round(
                statistics.median(r["cpu"] for r in good) / (workload.total_bytes / 1e9), 1
            ),
            "rss_mb": round(max(r["rss_mb"] for r in good)),
            **{k: v for k, v in good[-1].items() if k not in ("seconds", "cpu", "rss_mb")},
        }
        if all("transfer_s" in r for r in good):  # our own peers: the transfer alone, without start-up
            summary[peer]["transfer_s"] = round(statistics.median(r["transfer_s"] for r in good), 3)
    return summary


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"`python -m bench.run{' --quick' if args.quick else ''} --repeats {args.repeats}` on "
        f"{results['machine']['cores']} cores, rclone serve s3 on loopback, files and server data on "
        f"{results['machine'].get('work', 'disk')}. Medians of {args.repeats} "
        "alternating runs. Ratios are ours divided by the peer's, higher is better for us.",
        "",
        f"Ceilings: loopback TCP {results['ceilings']['loopback_tcp_MBps']} MB/s, disk write with fsync "
        f"{results['ceilings']['disk_write_fsync_MBps']} MB/s.",
        "",
        "| workload | peer | MB/s | files/s | CPU s/GB | peak RSS MB | ours ÷ peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in results["runs"].items():
        ours = entry["peers"].get("provena-widgets", {})
        for peer, stats in entry["peers"].items():
            if "error" in stats:
                lines.append(f"| {name} | {peer} | failed: {str(stats['error'])[:60]} | | | | |")
                continue
            ratio = f"{ours['MBps'] / stats['MBps']:.2f}" if ours.get("MBps") and stats["MBps"] else ""
            extra = f" ({_ui_messages(stats)}{_ui_cost(stats, ours)})" if "events_per_second" in stats else ""
            lines.append(f"| {name} | {peer}{extra} | {stats['MBps']} | {stats['files_per_s']} | "
                         f"{stats['cpu_s_per_GB']} | {stats['rss_mb']} | {ratio} |")  # fmt: skip
    if "listing" in results:
        lines += [
            "",
            f"Listing {args.list_keys} keys in the browser widget: {json.dumps(results['listing'])}",
        ]
    return "\n".join(lines) + "\n"


def _ui_messages(stats: dict[str, Any]) -> str:
    """Widget messages per second; with the count for short transfers, where the first and last
    renders alone make a high rate."""
    rate = f"{stats.get('ui_messages_per_second', '?')} widget messages/s"
    return f"{rate}, {stats['ui_messages']} in all" if "ui_messages" in stats else rate


def _ui_cost(with_ui: dict[str, Any], headless: dict[str, Any]) -> str:
    """The transfer's own time with widgets attached against headless, start-up left out (a
    notebook has ipywidgets imported already; a fresh process pays for the import)."""
    if not with_ui.get("transfer_s") or not headless.get("transfer_s"):
        return ""
    return f"; transfer {with_ui['transfer_s'] / headless['transfer_s'] - 1:+.0%} vs headless"


def plot(results: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    names = list(results["runs"])
    peers = sorted({peer for entry in results["runs"].values() for peer in entry["peers"]})
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 2.4 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        entry = results["runs"][name]
        many = entry["files"] > 1
        values = [entry["peers"].get(p, {}).get("files_per_s" if many else "MBps", 0) for p in peers]
        colours = ["tab:green" if p.startswith("provena") else "tab:gray" for p in peers]
        axis.barh(peers, values, color=colours)
        axis.set_title(f"{name} ({'files/s' if many else 'MB/s'})", fontsize=9)
        axis.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
