"""A sample dataset folder like a real Provena one: nested folders, CSVs, a large file, metadata.json."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from typing import Any

from ..location import METADATA_FILE, DatasetLocation

MiB = 1024 * 1024


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def sample_files(large_size: int = 50 * MiB) -> dict[str, bytes]:
    """Dataset-relative paths and contents (deterministic)."""
    rng = random.Random(42)
    temperatures = [["site", "day", "temperature_c"]] + [
        [site, day, round(26 + 2 * math.sin(day / 5) + rng.uniform(-0.5, 0.5), 2)]
        for site in ("Heron", "Lizard", "Davies")
        for day in range(60)
    ]
    cover = [["reef", "year", "coral_cover_pct"]] + [
        [reef, year, round(rng.uniform(10, 45), 1)]
        for reef in ("north", "south")
        for year in range(2015, 2025)
    ]
    metadata = {"id": "10378.1/1234567", "display_name": "Reef temperature loggers (sample)"}
    return {
        METADATA_FILE: json.dumps(metadata, indent=2).encode(),
        "README.txt": b"Sample dataset for the provena-widgets demo.\n",
        "data/temperature.csv": _csv(temperatures),
        "data/coral_cover.csv": _csv(cover),
        "data/raw/logger-01.csv": _csv(temperatures[:40]),
        "data/raw/logger-02.csv": _csv(temperatures[40:80]),
        "images/site-map.txt": b"(a map would be here)\n",
        "model/output/run-001.bin": rng.randbytes(large_size),
    }


def seed(admin_s3: Any, location: DatasetLocation, large_size: int = 50 * MiB) -> dict[str, bytes]:
    """Write the sample files into ``location`` with an admin client; returns them."""
    files = sample_files(large_size)
    for path, body in files.items():
        admin_s3.put_object(Bucket=location.bucket, Key=location.prefix + path, Body=body)
    return files
