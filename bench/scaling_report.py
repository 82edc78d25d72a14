"""The cluster-scaling results as JSON, a Markdown table and a plot (medians over repeats)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DIRECTION = {"up": "to_server", "down": "to_client"}  # which way a transfer's bytes cross the links
MiB = 1024 * 1024
Key = tuple[str, str, int, str]  # workload, op, workers, mode
Runs = dict[Key, dict[str, Any]]


def write(results: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cluster-scaling.json").write_text(json.dumps(results, indent=1))
    (folder / "cluster-scaling.md").write_text(markdown(results))
    plot(results, folder / "cluster-scaling.png")
    print((folder / "cluster-scaling.md").read_text())


def medians(runs: list[dict[str, Any]]) -> Runs:
    """Per workload, direction, workers and mode: the run with the median throughput (the lower
    middle one of an even count)."""
    groups: dict[Key, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["workload"], run["op"], run["workers"], run["mode"]), []).append(run)
    return {
        key: sorted(group, key=lambda r: r["MiBps"])[(len(group) - 1) // 2] for key, group in groups.items()
    }


def worker_links(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The workers' links, each as seen in the transfer's direction."""
    way = DIRECTION[run["op"]]
    return [link[way] for link in run["links"] if link["process"].startswith("worker")]


def markdown(results: dict[str, Any]) -> str:
    conditions, runs = results["conditions"], results["runs"]
    rate, loads = conditions["rate_MiBps"], [run["load_1min_before"] for run in runs]
    repeats = conditions["repeats"]
    lines = [
        "# Aggregate throughput against Dask workers, one throttled link per worker",
        "",
        f"Reproduce (from the repository's root): `.venv/bin/{conditions['command']}`",
        "",
        f"{conditions['cores']} cores shared with other helpers' work (1-minute load average "
        f"{min(loads):.1f}-{max(loads):.1f} before the runs); {conditions['minutes']} minutes in all; "
        f"{f'median of {repeats} runs' if repeats > 1 else 'one run'} per row. Every worker process "
        f"(`LocalCluster`, one thread each) has its own line of {rate:g} MiB/s each way in the "
        "`bench.links` proxy; the `rclone serve s3` behind it is not throttled. *Unthrottled*: the "
        "same proxy without a rate; *direct*: no proxy. Files and server data on tmpfs; a fresh "
        "server and proxy for every run. Times are the kernel's `store.upload` / `store.download` "
        "call with `cluster=`: planning, submitting, the workers' connections and the transfer (the "
        "cluster is started and has imported the package before). MiB/s = the workload's bytes / "
        "that time. *Linear*: the number of workers × the 1-worker figure. The seconds to the first "
        "byte and after the last are the fixed costs around the links' work (planning, submitting, "
        "connecting; the kernel's report); *first to last byte* is the workers' bytes over the span "
        "between, the fixed costs left out. *Idle mid-way*: the seconds a worker's link carried "
        "nothing (in gaps of 0.1 s or more) between its own first byte and its last, such as a "
        "worker's next batch setting up; the most of any worker, and the sum over all.",
        *(["", f"Code measured: {conditions['note']}"] if conditions.get("note") else []),
        "",
        "| workload | direction | workers | MiB/s | × 1 worker | linear | of linear | "
        "each worker: MiB moved (MiB/s while active) | s to the first byte / after the last | "
        "MiB/s first to last byte | idle mid-way s: most / all | unthrottled / direct MiB/s | "
        "CPU s: workers / proxy / server |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(table_row(key, run, medians(runs)) for key, run in medians(runs).items() if key[3] == "throttled"),
        "",
        *attribution(runs),
        "",
        "![plot](cluster-scaling.png)",
        "",
    ]
    return "\n".join(lines)


def table_row(key: Key, run: dict[str, Any], best: Runs) -> str:
    workload, op, workers, _ = key
    one = best[(workload, op, 1, "throttled")]["MiBps"] if (workload, op, 1, "throttled") in best else None
    ratio = f"{run['MiBps'] / one:.2f}×" if one else ""
    linear = f"{workers * one:.1f}" if one else ""
    share = f"{run['MiBps'] / one / workers:.0%}" if one else ""
    each = ", ".join(f"{link['bytes'] / MiB:.0f} ({link['MiBps']:.1f})" for link in worker_links(run))
    free = " / ".join(
        f"{best[(workload, op, workers, mode)]['MiBps']:.1f}"
        if (workload, op, workers, mode) in best
        else "-"
        for mode in ("unthrottled", "direct")
    )
    cpu = run["cpu_s"]
    return (
        f"| {workload} | {op} | {workers} | {run['MiBps']:.1f} | {ratio} | {linear} | {share} | {each} | "
        f"{lead_and_tail(run)} | {idle(run)} | {free} | "
        f"{cpu['workers']:.1f} / {cpu['proxy']:.1f} / {cpu['server']:.1f} |"
    )


def lead_and_tail(run: dict[str, Any]) -> str:
    """Seconds from the call to the workers' first byte on the links and from their last to its
    end; then the workers' bytes over the span between (the fixed costs left out)."""
    links = worker_links(run)
    first, last = min(link["first"] for link in links), max(link["last"] for link in links)
    span = sum(link["bytes"] for link in links) / MiB / (last - first)
    return f"{first - run['began']:.1f} / {run['ended'] - last:.1f} | {span:.1f}"


def idle(run: dict[str, Any]) -> str:
    """The seconds a worker's link stood idle between its first byte and its last: the most, and all."""
    gaps = [link["idle_s"] for link in worker_links(run)]
    return f"{max(gaps):.1f} / {sum(gaps):.1f}"


def attribution(runs: list[dict[str, Any]]) -> list[str]:
    """Whether each connection reached its own process's link, checked over every run."""
    throttled = [run for run in runs if run["mode"] == "throttled"]
    moved = {id(run): len([link for link in worker_links(run) if link["bytes"]]) for run in throttled}
    fewer = [run for run in throttled if moved[id(run)] < run["workers"]]
    stray = sum(
        link[way]["bytes"]
        for run in runs
        for link in run["links"]
        if link["process"] in ("unknown", "other")
        for way in DIRECTION.values()
    )
    fastest = max(link["MiBps"] for run in throttled for link in worker_links(run))
    return [
        f"Per-process links, checked: in {len(throttled) - len(fewer)} of {len(throttled)} throttled runs "
        "every worker process had a link of its own and used it"
        + (
            f"; in the other {len(fewer)} ("
            + ", ".join(f"{run['workload']} {run['op']} on {run['workers']}" for run in fewer)
            + f" workers) only {', '.join(str(moved[id(run)]) for run in fewer)} of them moved bytes: "
            "fewer files or spans of parts than workers"
            if fewer
            else ""
        )
        + f"; {stray} bytes went through connections of no worker and not the kernel; no worker's "
        f"link averaged more than {fastest:.2f} MiB/s over its active span (the cap is "
        f"{throttled[0]['rate_MiBps']:g}). The kernel's own link carries only its listing and planning "
        "requests. Every process's bytes, connections and active time, per run, are in "
        "`cluster-scaling.json`.",
    ]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = medians(results["runs"])
    rate = results["conditions"]["rate_MiBps"]
    workloads = sorted({key[0] for key in best})
    counts = sorted({key[2] for key in best})
    ops = [op for op in ("up", "down") if any(key[1] == op for key in best)]
    fig, axes = plt.subplots(1, len(ops), figsize=(5.5 * len(ops), 5.2), sharey=True, squeeze=False)
    for axis, op in zip(axes[0], ops, strict=True):
        axis.plot(counts, [n * rate for n in counts], color="lightgray", lw=5, label=f"n × {rate:g} MiB/s")
        for colour, workload in zip(("tab:blue", "tab:orange", "tab:green"), workloads, strict=False):
            series = {
                mode: [best[(workload, op, n, mode)]["MiBps"] for n in counts]
                for mode in ("throttled", "unthrottled", "direct")
            }
            one = series["throttled"][0]
            axis.plot(
                counts, [n * one for n in counts], "--", color=colour, lw=1, label=f"{workload}: linear"
            )
            axis.plot(
                counts, series["throttled"], "o-", color=colour, label=f"{workload}: {rate:g} MiB/s links"
            )
            axis.plot(counts, series["unthrottled"], "x:", color=colour, label=f"{workload}: unthrottled")
            axis.plot(counts, series["direct"], "+", color=colour, ms=10, label=f"{workload}: direct")
        axis.set_title(f"{'upload' if op == 'up' else 'download'}: aggregate MiB/s against Dask workers")
        axis.set_xlabel("Dask workers (processes, 1 thread each)")
        axis.set_xticks(counts)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("MiB/s")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)
