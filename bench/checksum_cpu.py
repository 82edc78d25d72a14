"""Client CPU per GB of a verified large download, by what it is verified against.

rclone keeps no flexible checksums, so this runs on the sandbox's moto server (a separate
process: only our own CPU is counted). One object is uploaded with a CRC32C (composite, as our
uploads write it) and one without; each is downloaded with checks on, and once with checks off.

    .venv/bin/python -m bench.checksum_cpu [--mib 512]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from provena_widgets import DatasetLocation, DatasetStore, TransferSettings
from provena_widgets.sandbox.s3server import LocalS3Server

MiB = 1024 * 1024
BUCKET = "rrap-storage-bucket"


def download_cpu(store: DatasetStore, name: str, out: Path) -> tuple[float, str | None]:
    """CPU seconds of this process for one download, and what the file was checked against."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.process_time()
    report = store.download([name], to=out, progress=None)
    cpu = time.process_time() - started
    assert report.ok, report.summary()
    return cpu, report.files[0].checksum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=512, help="object size in MiB")
    size = parser.parse_args().mib * MiB
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # the disk is not what is measured
    work = Path(tempfile.mkdtemp(prefix="checksum-cpu-", dir=memory))
    try:
        with LocalS3Server() as server:
            server.create_bucket(BUCKET)
            location = DatasetLocation.from_handle("10378.1/9999999", bucket=BUCKET)
            credentials = server.dataset_credentials(location.bucket, location.prefix, write=True)
            settings = TransferSettings(journal_dir=work / "journal")

            def store(**changes: object) -> DatasetStore:
                tuned = dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
                return DatasetStore(credentials, location, endpoint_url=server.endpoint_url, settings=tuned)

            source = work / "big.bin"
            source.write_bytes(os.urandom(size))
            store().upload([source], to="crc/", progress=None)
            store(checksum=None).upload([source], to="md5/", progress=None)
            source.unlink()
            runs = [
                ("object's CRC32C (composite)", store(), "crc/big.bin"),
                ("MD5 of the ETag (no flexible checksum)", store(), "md5/big.bin"),
                ("no check (verify=False)", store(verify=False), "crc/big.bin"),
            ]
            gib = size / (1024 * MiB)
            print(f"{size // MiB} MiB download, client CPU seconds per GiB (median of 3):")
            for label, client, name in runs:
                samples = sorted(download_cpu(client, name, work / "out") for _ in range(3))
                cpu, checked = samples[1]
                print(f"  {label:<40} {cpu / gib:5.2f} s/GiB   checked against: {checked}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
