"""An output is up to date when its recorded source version and options digest match."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from cutout.batch.provenance import Provenance, is_current, options_digest, options_record
from cutout.batch.store import Item
from cutout.options import (
    BlurBackground,
    ColorBackground,
    ImageBackground,
    Margin,
    RemoveOptions,
)

OPTIONS = {"format": "png", "bg_color": None, "crop": False, "size": "full"}
DIGEST = options_digest(OPTIONS, model="inspyrenet-base", version="0.1.0")


def source(generation: int = 100, size: int = 5, digest: str | None = "md5:abc") -> Item:
    return Item("shoes/red.jpg", size, generation, hasher=lambda: digest)


def test_the_options_digest_ignores_key_order_and_sees_every_value() -> None:
    reordered = dict(reversed(list(OPTIONS.items())))
    assert options_digest(reordered, model="inspyrenet-base", version="0.1.0") == DIGEST
    assert DIGEST.startswith("sha256:") and len(DIGEST) == 7 + 64
    others = {
        options_digest({**OPTIONS, "format": "webp"}, model="inspyrenet-base", version="0.1.0"),
        options_digest(OPTIONS, model="u2netp", version="0.1.0"),
        options_digest(OPTIONS, model="inspyrenet-base", version="0.2.0"),
        options_digest(OPTIONS, model="inspyrenet-base"),
    }
    assert DIGEST not in others and len(others) == 4
    with pytest.raises(ValueError, match="JSON values"):
        options_digest({"colour": {1, 2}}, model="m")


def test_the_record_round_trips_through_string_metadata() -> None:
    record = Provenance.of(source(), DIGEST)
    metadata = record.to_metadata()
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["cutout-source-generation"] == "100"
    assert Provenance.from_metadata(metadata) == record
    assert Provenance.from_metadata({**metadata, "other": "kept apart"}) == record


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"cutout-source": "x"},
        {**Provenance.of(source(), DIGEST).to_metadata(), "cutout-source-size": "five"},
    ],
)
def test_missing_or_malformed_provenance_is_never_current(metadata: dict[str, str] | None) -> None:
    assert Provenance.from_metadata(metadata) is None
    assert not is_current(metadata, source(), DIGEST)


def test_the_same_source_version_and_options_are_current() -> None:
    metadata = Provenance.of(source(), DIGEST).to_metadata()
    calls = []

    def hasher() -> str:
        calls.append(1)
        return "sha256:never"

    assert is_current(metadata, Item("shoes/red.jpg", 5, 100, hasher=hasher), DIGEST)
    assert calls == []  # same generation: the content is not hashed


def test_a_changed_source_or_changed_options_are_stale() -> None:
    metadata = Provenance.of(source(), DIGEST).to_metadata()
    assert not is_current(metadata, source(generation=101, digest="md5:new"), DIGEST)
    assert not is_current(metadata, source(size=6), DIGEST)
    other = options_digest({**OPTIONS, "crop": True}, model="inspyrenet-base", version="0.1.0")
    assert not is_current(metadata, source(), other)


def test_a_new_version_with_the_same_bytes_is_current_by_its_digest() -> None:
    metadata = Provenance.of(source(), DIGEST).to_metadata()
    assert is_current(metadata, source(generation=205, digest="md5:abc"), DIGEST)
    without = Provenance.of(source(digest=None), DIGEST).to_metadata()
    assert "cutout-source-digest" not in without
    assert not is_current(without, source(generation=205, digest=None), DIGEST)


# one changed value per field of RemoveOptions (a field added later is covered by
# options_record all the same: it reads the dataclass's fields)
CHANGED = {
    "mask": True,
    "background": ColorBackground((255, 255, 255, 255)),
    "threshold": 0.5,
    "invert": True,
    "crop": True,
    "margin": Margin(top=5),
    "canvas": (100, 100),
    "fill": 0.5,
    "shadow": True,
    "edges": "best",
    "format": "webp",
    "roi": (0, 0, 10, 10),
    "scale": 0.5,
    "position": (0.2, 0.3),
    "require_foreground": True,
    "quality": 80,
    "png_compress_level": 6,
}


def _digest(options: RemoveOptions) -> str:
    return options_digest(options_record(options), model="u2netp")


def test_every_field_of_the_remove_options_shapes_the_digest() -> None:
    names = [field.name for field in fields(RemoveOptions)]
    assert list(options_record(RemoveOptions())) == names
    assert set(CHANGED) <= set(names)
    digests = {
        name: _digest(replace(RemoveOptions(), **{name: value})) for name, value in CHANGED.items()
    }
    assert _digest(RemoveOptions()) not in digests.values()
    assert len(set(digests.values())) == len(CHANGED)
    assert _digest(RemoveOptions()) == _digest(RemoveOptions())  # not by identity


def test_backgrounds_are_told_apart_by_kind_and_a_photo_by_its_pixels() -> None:
    photo = np.zeros((4, 6, 3), np.uint8)
    same = ImageBackground(photo.copy())
    other = photo.copy()
    other[0, 0, 0] = 1
    digests = [
        _digest(RemoveOptions(background=ImageBackground(photo))),
        _digest(RemoveOptions(background=ImageBackground(other))),
        _digest(RemoveOptions(background=ImageBackground(photo[:, :4]))),
        _digest(RemoveOptions(background=BlurBackground(20.0))),
        _digest(RemoveOptions(background=ColorBackground((0, 0, 0, 255)))),
    ]
    assert len(set(digests)) == len(digests)
    assert _digest(RemoveOptions(background=same)) == digests[0]
    record = options_record(RemoveOptions(background=BlurBackground(3.0)))
    assert record["background"] == {"type": "BlurBackground", "radius": 3.0}


def test_a_value_of_an_unknown_kind_is_refused_not_left_out() -> None:
    with pytest.raises(TypeError, match="cannot record an option value of type object"):
        options_record(replace(RemoveOptions(), roi=object()))  # type: ignore[arg-type]
