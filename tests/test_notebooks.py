"""Every tutorial notebook runs top to bottom (nbclient) against the local S3 server, and does what
it teaches: the files it downloads arrive whole, what it uploads is on the server, what it shows
is what the dataset holds, and each exercise's folded solution runs."""

from __future__ import annotations

import ast
import csv
import io
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import xarray as xr
from conftest import BUCKET, tree_of
from nbclient import NotebookClient

from provena_widgets import DatasetLocation
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.sandbox.sample import seed
from provena_widgets.sandbox.session import SESSION_ENV, DemoSession

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass
class Run:
    """One notebook after it ran: its code cells, the sample files it started from, the server, and
    the folder where the kernel made its temporary folders."""

    cells: list[Any]
    sample: dict[str, bytes]
    location: DatasetLocation
    admin: Any
    kernel_tmp: Path

    def shown(self, index: int) -> str:
        """What code cell ``index`` printed and displayed, as text."""
        outputs = self.cells[index].outputs
        streams = [out.text for out in outputs if out.output_type == "stream"]
        shown = [out.data["text/plain"] for out in outputs if "text/plain" in out.get("data", {})]
        return "".join(streams) + "\n".join(shown)

    def value(self, index: int) -> Any:
        """The Python value code cell ``index`` displayed last (a list, a string...)."""
        return ast.literal_eval(self.cells[index].outputs[-1].data["text/plain"])

    def work_folder(self) -> Path:
        """The temporary folder the notebook downloaded into."""
        [work] = [folder for folder in self.kernel_tmp.iterdir() if (folder / "data").is_dir()]
        return work

    def downloaded(self) -> dict[str, bytes]:
        """The files the notebook downloaded, by dataset path."""
        return {"data/" + path: data for path, data in tree_of(self.work_folder() / "data").items()}

    def on_server(self, path: str) -> bytes:
        key = self.location.prefix + path
        return bytes(self.admin.get_object(Bucket=self.location.bucket, Key=key)["Body"].read())

    def sample_under(self, folder: str) -> dict[str, bytes]:
        return {path: data for path, data in self.sample.items() if path.startswith(folder)}


def check_quick_start(run: Run) -> None:
    assert WIDGET_VIEW in run.cells[0].outputs[-1].data  # the Explorer, shown
    assert sorted(run.value(1)) == sorted({path.split("/")[0] for path in run.sample})  # the dataset's top


def check_python_api(run: Run) -> None:
    assert f"prefix='{run.location.prefix}'" in run.shown(0) and "has_files=True" in run.shown(0)  # check()
    data = run.sample_under("data/")
    inside = [path.removeprefix("data/") for path in data]
    files = {f"{name} {len(data['data/' + name])} False" for name in inside if "/" not in name}
    folders = {f"{name.split('/')[0]} 0 True" for name in inside if "/" in name}
    assert set(run.shown(1).splitlines()) == files | folders  # name, size, is_dir of each entry
    assert run.downloaded() == data  # whole
    assert run.value(2) == sorted(path for path in data if path.endswith(".csv"))
    assert run.on_server("analysis/results/summary.csv") == b"site,mean\nHeron,26.1\n"
    assert run.value(3) == ["analysis/results/summary.csv"]


def check_lesson(run: Run) -> None:
    assert "Connected to" in run.shown(0)
    assert run.downloaded() == run.sample_under("data/")  # whole
    readings: dict[str, list[float]] = {}
    for row in csv.DictReader(io.StringIO(run.sample["data/temperature.csv"].decode())):
        readings.setdefault(row["site"], []).append(float(row["temperature_c"]))
    uploaded = run.on_server("analysis/lesson-results/mean_temperature.csv").decode()
    rows = list(csv.DictReader(io.StringIO(uploaded)))
    assert rows and set(rows[0]) == {"site", "temperature_c"}
    means = {row["site"]: float(row["temperature_c"]) for row in rows}
    expected = {site: statistics.fmean(values) for site, values in readings.items()}
    assert means == pytest.approx(expected, abs=0.006)  # the notebook rounds to 2 places
    assert "mean_temperature.csv" in run.shown(3) and "transferred" in run.shown(3)
    check_in_place(run, readings)


def check_in_place(run: Run, readings: dict[str, list[float]]) -> None:
    """Part 3: pandas, xarray and Dask read the dataset's files where they are."""
    assert "Same as the downloaded copy: True" in run.shown(4)
    for site, values in readings.items():  # the folder of CSVs, one per site, written in place
        rows = csv.DictReader(io.StringIO(run.on_server(f"data/by-site/{site}.csv").decode()))
        assert [float(row["temperature_c"]) for row in rows] == values
    with xr.open_dataset(io.BytesIO(run.on_server("model/sst.nc")), engine="h5netcdf") as grid:
        daily = grid["sst"].mean(dim=["lat", "lon"]).values.tolist()
    assert "sst" in run.shown(6) and run.value(7) == pytest.approx(daily, abs=0.0006)
    assert "Partitions (one per file): 3" in run.shown(9) and "Same as pandas: True" in run.shown(9)
    [solution] = [cell for cell in run.cells if "solution" in cell.metadata.get("tags", [])]
    assert solution.outputs[-1].data["text/plain"] == "True"  # the exercise's folded solution works


def add_solutions(notebook: Any) -> None:
    """Run each exercise's folded solution (the python block of a <details> markdown cell) in a
    code cell of its own, tagged "solution", after the exercise's code cell."""
    for index in reversed(range(len(notebook.cells))):
        cell = notebook.cells[index]
        found = re.search(r"<details>.*?```python\n(.*?)```", cell.source, re.DOTALL)
        if cell.cell_type == "markdown" and found:
            solution = nbformat.v4.new_code_cell(found[1], metadata={"tags": ["solution"]})  # type: ignore[no-untyped-call]
            notebook.cells.insert(index + 2, solution)  # after the cell the student writes in


CHECKS: dict[str, Callable[[Run], None]] = {
    "01-quick-start": check_quick_start,
    "02-python-api": check_python_api,
    "03-lesson-data-store-to-analysis": check_lesson,
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_and_does_what_it_teaches(
    path: Path, s3_server: LocalS3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = CHECKS[path.stem]  # a new notebook needs its own check
    location = DatasetLocation.from_handle(f"10378.1/{9_000_000 + NOTEBOOKS.index(path)}", bucket=BUCKET)
    sample = seed(s3_server.admin_client(), location, large_size=1024)
    session = DemoSession(
        s3_server.endpoint_url, location, s3_server.dataset_credentials(BUCKET, location.prefix)
    )
    session.save(tmp_path / "session.json")
    monkeypatch.setenv(SESSION_ENV, str(tmp_path / "session.json"))
    kernel_tmp = tmp_path / "kernel-tmp"
    kernel_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(kernel_tmp))  # where the kernel's tempfile.mkdtemp() lands
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    add_solutions(notebook)
    NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [out for cell in cells for out in cell.outputs]
    assert [out for out in outputs if out.output_type == "error"] == []
    assert all(cell.execution_count for cell in cells)
    assert session.credentials.secret_access_key not in str(outputs)
    check(Run(cells, sample, location, s3_server.admin_client(), kernel_tmp))
