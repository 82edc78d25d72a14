"""The workloads: files written once to local disk, and seeded on the server's disk for downloads."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

KiB, MiB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Workload:
    name: str
    files: int
    size: int  # bytes per file
    depth_split: int = 0  # files per sub-folder (0: flat)

    @property
    def total_bytes(self) -> int:
        return self.files * self.size

    def relative_paths(self) -> list[str]:
        if self.files == 1:
            return ["file.bin"]
        if self.depth_split:
            return [f"d{i // self.depth_split:03d}/s{(i // 10) % 10}/f{i:05d}.dat" for i in range(self.files)]
        return [f"f{i:05d}.dat" for i in range(self.files)]

    def create(self, root: Path) -> Path:
        """Write the workload's files under ``root/<name>`` once (random, incompressible bytes)."""
        folder = root / self.name
        marker = root / f"{self.name}.complete"  # beside, not inside: peers copy the whole folder
        if marker.exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        block = os.urandom(min(self.size, 16 * MiB))
        for index, rel in enumerate(self.relative_paths()):
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                left, first = self.size, True
                while left:
                    chunk = block[:left]
                    if first:  # every file differs
                        chunk, first = index.to_bytes(8, "little")[: len(chunk)] + chunk[8:], False
                    handle.write(chunk)
                    left -= len(chunk)
        marker.touch()
        return folder

    def seed(self, local: Path, bucket_dir: Path, prefix: str, state: Path) -> None:
        """Put the files on the rclone server by copying them into its data folder."""
        target = bucket_dir / prefix
        marker = state / f"{prefix.strip('/')}.seeded"
        if marker.exists():
            return
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(local, target)
        marker.touch()


FULL = [
    Workload("1x1GiB", 1, 1024 * MiB),
    Workload("200x2MiB", 200, 2 * MiB),
    Workload("2000x16KiB", 2000, 16 * KiB),
    Workload("tree-10000x4KiB", 10_000, 4 * KiB, depth_split=100),
]
QUICK = [
    Workload("1x256MiB", 1, 256 * MiB),
    Workload("50x2MiB", 50, 2 * MiB),
    Workload("500x16KiB", 500, 16 * KiB),
    Workload("tree-2000x4KiB", 2000, 4 * KiB, depth_split=100),
]
