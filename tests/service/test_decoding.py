"""service.decoding: bytes -> upright uint8 pixels, or an ImageError with the right status."""

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.decoding import ImageError, decode_image

MAX_PIXELS = 40_000_000


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient_rgb(width: int = 64, height: int = 32) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    return Image.fromarray(np.dstack([x, x[:, ::-1], np.full_like(x, 90)]), "RGB")


def status_of(data: bytes, content_type: str | None = None, max_pixels: int = MAX_PIXELS) -> int:
    with pytest.raises(ImageError) as info:
        decode_image(data, max_pixels, content_type)
    return info.value.status_code


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("WEBP", "WebP"), ("BMP", "BMP")])
def test_decode_image_reads_every_supported_format(fmt: str, name: str) -> None:
    decoded = decode_image(encode(gradient_rgb(), fmt), MAX_PIXELS)
    assert (decoded.width, decoded.height, decoded.format) == (64, 32, name)
    assert decoded.pixels.shape == (32, 64, 3) and decoded.gray.shape == (32, 64)
    assert decoded.gray.dtype == np.uint8


def test_decode_image_keeps_grayscale_single_channel() -> None:
    gray = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "L")
    decoded = decode_image(encode(gray, "PNG"), MAX_PIXELS)
    assert decoded.pixels.ndim == 2
    assert np.array_equal(decoded.gray, np.asarray(gray))


def test_decode_image_puts_transparency_over_white() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)  # black but fully transparent
    rgba[:4, :, 3] = 255  # top half opaque black
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), MAX_PIXELS)
    assert decoded.gray[0, 0] == 0 and decoded.gray[7, 7] == 255


def test_decode_image_scales_16_bit_to_8_bit() -> None:
    wide = np.array([[0, 257 * 128, 65535]], np.uint16)
    decoded = decode_image(encode(Image.fromarray(wide), "PNG"), MAX_PIXELS)
    assert decoded.gray.tolist() == [[0, 128, 255]]


def test_decode_image_honours_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(gradient_rgb(64, 32), "JPEG", exif=exif.tobytes())
    decoded = decode_image(data, MAX_PIXELS)
    assert (decoded.width, decoded.height) == (32, 64)


def test_decode_image_reads_the_committed_photo(astronaut_path: Path) -> None:
    decoded = decode_image(astronaut_path.read_bytes(), MAX_PIXELS)
    assert (decoded.width, decoded.height) == (384, 384)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01\x02\x03" * 100, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "random-bytes", "broken-png"],
)
def test_decode_image_rejects_non_images_with_400(data: bytes) -> None:
    assert status_of(data) == 400


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_decode_image_rejects_truncated_images_with_400(fmt: str) -> None:
    data = encode(gradient_rgb(256, 256), fmt)
    assert status_of(data[: len(data) // 2]) == 400


@pytest.mark.parametrize(
    "data",
    [
        encode(gradient_rgb(), "GIF"),
        encode(gradient_rgb(), "TIFF"),
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"hello, world\n",
    ],
    ids=["gif", "tiff", "pdf", "text"],
)
def test_decode_image_rejects_unsupported_types_with_415(data: bytes) -> None:
    assert status_of(data) == 415


def test_decode_image_rejects_a_declared_text_upload_with_415() -> None:
    assert status_of(encode(gradient_rgb(), "PNG"), content_type="text/plain") == 415


@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (30_000, 30_000)])
def test_decode_image_rejects_too_many_pixels_from_the_header(
    make_png_header: Callable[[int, int], bytes], width: int, height: int
) -> None:
    data = make_png_header(width, height)
    assert len(data) < 200  # the pixels are never there: the header alone decides
    assert status_of(data) == 413


def test_decode_image_applies_the_configured_pixel_limit() -> None:
    assert status_of(encode(gradient_rgb(64, 32), "PNG"), max_pixels=1000) == 413
