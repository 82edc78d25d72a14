"""Every tutorial notebook runs top to bottom (nbclient) against the local S3 server."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import BUCKET
from nbclient import NotebookClient

from provena_widgets import DatasetLocation
from provena_widgets.sandbox.s3server import LocalS3Server
from provena_widgets.sandbox.sample import seed
from provena_widgets.sandbox.session import SESSION_ENV, DemoSession

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(
    path: Path, s3_server: LocalS3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = DatasetLocation.from_handle(f"10378.1/{abs(hash(path.stem)) % 10**6}", bucket=BUCKET)
    seed(s3_server.admin_client(), location, large_size=1024)
    session = DemoSession(
        s3_server.endpoint_url, location, s3_server.dataset_credentials(BUCKET, location.prefix)
    )
    session.save(tmp_path / "session.json")
    monkeypatch.setenv(SESSION_ENV, str(tmp_path / "session.json"))
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = str(outputs)
    assert session.credentials.secret_access_key not in text
    assert "data" in text
