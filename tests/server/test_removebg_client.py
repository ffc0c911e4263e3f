"""A remove.bg client from PyPI (``remove-bg-api``) against cutout, only its URL changed.

The package keeps the host in the module global ``API_URL``; everything else (the
account call its constructor makes, the form fields and file part it sends, the
``X-Credits-Charged`` header it reads, the status codes it maps to exceptions) is its
own code, unmodified.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cutout.engine import Engine
from tests.conftest import EXAMPLES
from tests.server.live import live_server

remove_bg_api = pytest.importorskip("remove_bg_api")

# remove_bg_file() reads the photo with open(path).read() and never closes it: the
# client's own leak, reported as an unraisable ResourceWarning when the file is collected
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <_io.FileIO:pytest.PytestUnraisableExceptionWarning"
)

PHOTO = EXAMPLES / "animal-1.jpg"


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """A real ``cutout serve`` on the embedded model, ready."""
    with live_server() as server:
        yield server.url


@pytest.fixture
def client(live_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(remove_bg_api, "API_URL", f"{live_url}/v1.0")
    yield remove_bg_api.RemoveBg("any-key")


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def reference_mask(engine: Engine, path: Path, size: tuple[int, int]) -> np.ndarray:
    """cutout's own matte of ``path``, at ``size``, thresholded."""
    matte = engine.matte(path)
    resized = Image.fromarray((matte * 255).astype(np.uint8)).resize(
        size, Image.Resampling.BILINEAR
    )
    return np.asarray(resized) > 127


def assert_cutout_of(data: bytes, engine: Engine, path: Path) -> Image.Image:
    """``data`` is a PNG cut-out of ``path``: real transparency where cutout sees background."""
    image = open_image(data)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    with Image.open(path) as original:
        ratio = original.width / original.height
    assert abs(image.width / image.height - ratio) < 0.01
    alpha = np.asarray(image.getchannel("A"))
    assert (alpha <= 5).mean() > 0.2, "background was not removed"
    assert (alpha >= 250).mean() > 0.1, "the subject was removed too"
    expected = reference_mask(engine, path, image.size)
    got = alpha > 127
    iou = (got & expected).sum() / max(1, (got | expected).sum())
    assert iou > 0.9, f"the mask differs from cutout's own (IoU {iou:.3f})"
    return image


def test_constructor_reads_the_account(client: Any) -> None:
    balance = client.account.balance()
    assert isinstance(balance, int)
    credits = client.account.get_balance_dict()
    assert {"total", "subscription", "payg"} <= set(credits)
    assert isinstance(client.account.free_api_calls(), int)


def test_file_upload_with_default_options(client: Any, u2netp_engine: Engine) -> None:
    balance = client.account.balance()
    # the client sends size=preview, type=auto, format=auto and the file as `image_file`
    data = client.remove_bg_file(str(PHOTO))
    image = assert_cutout_of(data, u2netp_engine, PHOTO)
    assert image.width * image.height <= 250_000  # preview is at most 0.25 megapixels
    assert client.account.balance() <= balance  # it parsed X-Credits-Charged as an int


def test_bytes_upload_writes_the_file(client: Any, u2netp_engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    written = client.remove_bg_bytes(PHOTO.read_bytes(), out_path=str(target), raw=False)
    assert written == str(target)
    assert_cutout_of(target.read_bytes(), u2netp_engine, PHOTO)


def test_base64(client: Any, u2netp_engine: Engine) -> None:
    encoded = base64.b64encode(PHOTO.read_bytes()).decode()
    data = client.remove_bg_base64(encoded)
    assert_cutout_of(data, u2netp_engine, PHOTO)


def test_full_size_and_explicit_options(client: Any, u2netp_engine: Engine) -> None:
    data = client.remove_bg_file(str(PHOTO), data={"size": "full", "format": "png", "type": "auto"})
    image = assert_cutout_of(data, u2netp_engine, PHOTO)
    assert image.size == (1000, 667)


def test_background_colour_and_jpg(client: Any) -> None:
    data = client.remove_bg_file(
        str(PHOTO), data={"size": "full", "format": "jpg", "bg_color": "81d4fa"}
    )
    image = open_image(data)
    assert image.format == "JPEG"
    assert image.size == (1000, 667)
    corner = np.asarray(image.convert("RGB"))[:20, :20].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - np.array([0x81, 0xD4, 0xFA])).max() < 12, corner


def test_crop_sent_as_python_bool(client: Any) -> None:
    # requests form-encodes True as "True"; remove.bg accepts it, so must cutout
    data = client.remove_bg_file(str(PHOTO), data={"size": "full", "crop": True})
    image = open_image(data)
    assert image.width < 1000 or image.height < 667
    alpha = np.asarray(image.getchannel("A"))
    # cropped to the subject (alpha >= 10 %): every border touches it somewhere
    edges = [alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]]
    assert all(edge.max() >= 25 for edge in edges), [int(edge.max()) for edge in edges]
    assert (alpha >= 250).mean() > 0.2  # far less empty space than the full photo


def test_not_an_image_raises_the_400_error(client: Any) -> None:
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_bytes(b"this is not an image")


def test_url_source_disabled_by_default_is_a_400(client: Any) -> None:
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_url("http://127.0.0.1:9/photo.jpg")


@pytest.fixture(scope="module")
def keyed_url() -> Iterator[str]:
    """A server that wants ``X-Api-Key`` and allows 1 megapixel per minute per key."""
    env = {"CUTOUT_API_KEYS": "right-key", "CUTOUT_RATE_LIMIT_MP_PER_MINUTE": "1"}
    with live_server(env=env) as server:
        yield server.url


def test_api_key_and_rate_limit(keyed_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remove_bg_api, "API_URL", f"{keyed_url}/v1.0")
    # the constructor's account call is refused: the client raises its 403 error
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode403):
        remove_bg_api.RemoveBg("wrong-key")

    client = remove_bg_api.RemoveBg("right-key")
    photo = PHOTO.read_bytes()  # 0.67 MP at size=full: the second one is over 1 MP/min
    client.remove_bg_bytes(photo, data={"size": "full"})
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode429):
        client.remove_bg_bytes(photo, data={"size": "full"})
