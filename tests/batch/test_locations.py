"""SRC / DST text becomes a typed location, or an error that says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutout.batch.locations import GcsLocation, LocalLocation, parse_location
from cutout.errors import InvalidOptionError


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [
        ("gs://shop-catalogue", "shop-catalogue", ""),
        ("gs://shop-catalogue/", "shop-catalogue", ""),
        ("gs://shop-catalogue/shoes", "shop-catalogue", "shoes/"),
        ("gs://shop-catalogue/shoes/2026/", "shop-catalogue", "shoes/2026/"),
        ("gs://my.bucket.example.com/a b/ü", "my.bucket.example.com", "a b/ü/"),
        ("gs://a_b/x", "a_b", "x/"),
    ],
)
def test_cloud_storage_locations(text: str, bucket: str, prefix: str) -> None:
    location = parse_location(text)
    assert location == GcsLocation(bucket, prefix)
    assert location.join("red.jpg") == f"gs://{bucket}/{prefix}red.jpg"


@pytest.mark.parametrize("text", ["photos", "./photos/", "/data/in", "C:\\photos", "~/in"])
def test_anything_without_a_scheme_is_a_folder(text: str) -> None:
    location = parse_location(text, "DST")
    assert isinstance(location, LocalLocation)
    assert location.path == Path(text).expanduser()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("gs://", "has no bucket name"),
        ("gs:///shoes", "has no bucket name"),
        ("gs:/shop/shoes", "looks like Cloud Storage"),
        ("GS:shop", "looks like Cloud Storage"),
        ("s3://shop/shoes", "uses s3:"),
        ("https://example.com/a.jpg", "uses https:"),
        ("gs://Shop/x", "invalid bucket name 'Shop'"),
        ("gs://ab/x", "invalid bucket name 'ab'"),
        ("gs://-shop/x", "invalid bucket name"),
        ("gs://" + "a" * 64, "invalid bucket name"),
        ("gs://googshop/x", "invalid bucket name"),
        ("gs://192.168.1.1/x", "invalid bucket name"),
        ("gs://shop/a//b", "empty folder name"),
        ("gs://shop/a/../b", "'.' or '..'"),
        ("gs://shop/a\nb", "cannot hold"),
    ],
)
def test_clear_errors_name_the_argument(text: str, says: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_location(text, "SRC")
    assert caught.value.code == "invalid_location"
    assert caught.value.message.startswith(f"SRC {text!r} ")
    assert says in caught.value.message


def test_a_long_dotted_bucket_name_is_allowed() -> None:
    name = ".".join(["a" * 60] * 3)
    assert parse_location(f"gs://{name}/x") == GcsLocation(name, "x/")
