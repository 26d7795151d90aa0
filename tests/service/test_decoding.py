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


@pytest.mark.parametrize("color", [False, True])
def test_decode_image_scales_16_bit_to_8_bit(color: bool) -> None:
    wide = np.array([[0, 255, 256, 257 * 128, 65535]], np.uint16)
    decoded = decode_image(encode(Image.fromarray(wide), "PNG"), MAX_PIXELS, color=color)
    assert decoded.gray.tolist() == [[0, 0, 1, 128, 255]]  # the top 8 bits


# Where the stored pixel (x, y) of a W x H image is displayed, per EXIF orientation (from the
# EXIF 2.3 definitions, not from Pillow): 2 mirror, 3 rotate 180, 4 flip, 5 transpose,
# 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
DISPLAYED_AT = {
    1: lambda x, y, w, h: (x, y),
    2: lambda x, y, w, h: (w - 1 - x, y),
    3: lambda x, y, w, h: (w - 1 - x, h - 1 - y),
    4: lambda x, y, w, h: (x, h - 1 - y),
    5: lambda x, y, w, h: (y, x),
    6: lambda x, y, w, h: (h - 1 - y, x),
    7: lambda x, y, w, h: (h - 1 - y, w - 1 - x),
    8: lambda x, y, w, h: (y, w - 1 - x),
}
MARKERS = {(3, 2): 250, (60, 5): 170, (10, 29): 90}  # (x, y) -> value on a black 64x32 image


def with_exif_orientation(orientation: int, fmt: str) -> bytes:
    stored = np.zeros((32, 64), np.uint8)
    for (x, y), value in MARKERS.items():
        stored[y, x] = value
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(stored, "L"), fmt, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("color", [False, True])
def test_decode_image_puts_every_pixel_where_its_exif_orientation_says(orientation: int, color: bool) -> None:
    decoded = decode_image(with_exif_orientation(orientation, "PNG"), MAX_PIXELS, color=color)
    swapped = orientation >= 5
    assert (decoded.width, decoded.height) == ((32, 64) if swapped else (64, 32))
    expected = np.zeros_like(decoded.gray)
    for (x, y), value in MARKERS.items():
        dx, dy = DISPLAYED_AT[orientation](x, y, 64, 32)
        expected[dy, dx] = value
    np.testing.assert_array_equal(decoded.gray, expected)
    assert decoded.gray.flags.c_contiguous  # OpenCV needs contiguous arrays


def test_decode_image_keeps_rgb_channel_order() -> None:
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[:, :2] = (255, 0, 0)  # red
    pixels[:, 2:4] = (0, 255, 0)  # green
    pixels[:, 4:] = (0, 0, 255)  # blue
    decoded = decode_image(encode(Image.fromarray(pixels, "RGB"), "PNG"), MAX_PIXELS, color=True)
    assert decoded.pixels[0, 0].tolist() == [255, 0, 0]
    assert decoded.pixels[0, 2].tolist() == [0, 255, 0]
    assert decoded.pixels[0, 4].tolist() == [0, 0, 255]
    # Luma weights 0.299, 0.587, 0.114: a swapped red and blue would read 29 and 76.
    assert decoded.gray[0, [0, 2, 4]].tolist() == [76, 150, 29]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_decode_image_without_color_gives_the_same_gray_as_with_it(fmt: str) -> None:
    data = encode(gradient_rgb(64, 32), fmt)
    gray_only = decode_image(data, MAX_PIXELS, color=False)
    with_color = decode_image(data, MAX_PIXELS, color=True)
    assert gray_only.pixels.ndim == 2 and gray_only.pixels is gray_only.gray
    # JPEGs decode straight to grayscale in libjpeg: the same luma, up to rounding.
    assert np.abs(gray_only.gray.astype(int) - with_color.gray.astype(int)).max() <= 1


def test_decode_image_blends_transparency_over_white_in_color() -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 255, 128)  # half-transparent blue
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), MAX_PIXELS, color=True)
    assert decoded.pixels[0, 0].tolist() == [255, 0, 0]
    assert decoded.pixels[0, 1].tolist() == [127, 127, 255]
    assert decoded.pixels[1, 1].tolist() == [255, 255, 255]  # fully transparent: white


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
