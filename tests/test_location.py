"""DatasetLocation parsing, and the sandbox that keeps every path inside the dataset folder."""

from __future__ import annotations

import pytest

from provena_widgets import DatasetLocation, InvalidPath, LocationError, OutsideDataset


@pytest.mark.parametrize(
    "text",
    [
        "s3://rrap-storage-bucket/datasets/10378-1-1234567/",
        "s3://rrap-storage-bucket/datasets/10378-1-1234567",
        "/rrap-storage-bucket/datasets/10378-1-1234567/",
        "rrap-storage-bucket/datasets/10378-1-1234567/",
        "  '/rrap-storage-bucket/datasets/10378-1-1234567/'  ",
        "aws s3 ls s3://rrap-storage-bucket/datasets/10378-1-1234567/",
        "S3://rrap-storage-bucket/datasets/10378-1-1234567/",
    ],
)
def test_parse_accepts_the_forms_provena_shows(text: str) -> None:
    loc = DatasetLocation.parse(text)
    assert loc.bucket == "rrap-storage-bucket"
    assert loc.prefix == "datasets/10378-1-1234567/"
    assert loc.s3_uri == "s3://rrap-storage-bucket/datasets/10378-1-1234567/"
    assert loc.winscp_path == "/rrap-storage-bucket/datasets/10378-1-1234567/"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "s3://",
        "s3://rrap-storage-bucket/",
        "/rrap-storage-bucket",
        "s3://Bad_Bucket/datasets/x/",
        "s3://rrap-storage-bucket/datasets//x/",
        "s3://rrap-storage-bucket/datasets/../other/",
        "\\rrap-storage-bucket\\datasets\\x\\",
        "https://data.mds.gbrrestoration.org/datasets/x",
    ],
)
def test_parse_refuses_what_is_not_a_dataset_folder(text: str) -> None:
    with pytest.raises(LocationError) as err:
        DatasetLocation.parse(text)
    assert "\n" not in str(err.value)


def test_from_handle_follows_provena_naming() -> None:
    assert DatasetLocation.from_handle("10378.1/1688081", bucket="b-b").prefix == "datasets/10378-1-1688081/"
    assert DatasetLocation.from_handle("102.100.100/42", bucket="b-b").prefix == "datasets/102-100-100-42/"
    for bad in ("1688081", "10378.1/", "/123", "abc/def", "10378.1/12 3"):
        with pytest.raises(LocationError, match="handle"):
            DatasetLocation.from_handle(bad, bucket="b-b")


def test_keys_stay_inside_the_dataset() -> None:
    loc = DatasetLocation("bkt", "datasets/x/")
    assert loc.key("") == "datasets/x/"
    assert loc.key("a/b.csv") == "datasets/x/a/b.csv"
    assert loc.key("a/../b.csv") == "datasets/x/b.csv"
    assert loc.key("./a/") == "datasets/x/a/"
    assert loc.key("new", folder=True) == "datasets/x/new/"
    for escape in ("..", "../y/a.csv", "a/../../y", "/datasets/y/a.csv", "..\\y", "C:\\temp\\a"):
        with pytest.raises(OutsideDataset):
            loc.key(escape)
    for bad in ("a//b", "a\\b.csv", "a\x00b", "a\nb"):
        with pytest.raises(InvalidPath):
            loc.key(bad)
    with pytest.raises(OutsideDataset):
        loc.relative("datasets/y/a.csv")
