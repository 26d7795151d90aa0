"""Uploaded bytes -> pixels, with the checks that decide between 400, 413 and 415, in bounded memory.

Decoding is two steps so that a caller can reserve memory in between: :func:`open_image` reads
only the header (format, size, mode) and refuses what is too large or not an image;
:func:`decoded_bytes` bounds what decoding it will cost; :func:`decode_opened` decodes.
Memory is kept low on purpose: grayscale unless colour is asked for (JPEGs are decoded
straight to grayscale by libjpeg), and the conversion to uint8 in row chunks (:mod:`service.pixels`).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from service.pixels import CHUNK_ROWS, exif_orientation, to_uint8, upright
from service.settings import JPEG_MAX_SIDE

# Pillow format name -> what clients call it. MPO is how Pillow names multi-picture JPEGs from phones.
SUPPORTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP"}
SUPPORTED_HINT = "send JPEG, PNG, WebP or BMP"
# Magic numbers of common files that are not accepted images, to tell 415 from a corrupt image (400).
KNOWN_OTHER_TYPES = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"%PDF": "PDF",
    b"PK\x03\x04": "ZIP",
    b"\x00\x00\x00\x0cjP": "JPEG 2000",
}
NON_IMAGE_MEDIA_PREFIXES = ("text/", "application/pdf", "application/json", "application/zip", "audio/")
VIDEO_HINT = "send videos to /predict/video"
# Pillow's own decompression-bomb message names its pixel count; the service answers with its own limit.
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
# Bytes per pixel of Pillow's decoded image, by mode (anything unlisted is counted as 4).
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "RGB": 3}


class ImageError(Exception):
    """An upload that cannot be used; ``status_code`` is the HTTP status to answer with."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    """Upright uint8 pixels: ``gray`` (H, W) for detection, ``pixels`` the same or (H, W, 3) RGB."""

    pixels: np.ndarray
    gray: np.ndarray
    format: str

    @property
    def width(self) -> int:
        return int(self.gray.shape[1])

    @property
    def height(self) -> int:
        return int(self.gray.shape[0])


def decode_image(
    data: bytes, max_pixels: int, content_type: str | None = None, color: bool = True, max_side: int = JPEG_MAX_SIDE
) -> DecodedImage:
    """Decode an upload in one step or raise :class:`ImageError` (400, 413 or 415)."""
    return decode_opened(open_image(data, max_pixels, content_type, max_side), color)


def open_image(
    data: bytes, max_pixels: int, content_type: str | None = None, max_side: int = JPEG_MAX_SIDE
) -> Image.Image:
    """Read format and size only (Pillow decodes lazily); refuse non-images, too many pixels, too long a side.

    The side limit bounds the rows, whose fixed costs the pixel limit does not (see FER_MAX_IMAGE_SIDE);
    at most JPEG's limit, every accepted image can be sent back annotated.
    """
    if not data:
        raise ImageError(400, "empty file: expected an image")
    _reject_declared_non_image(content_type)
    try:
        # Pillow warns about huge headers; the pixel limit below decides about those.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(str(exc), max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unidentified_error(data) from exc
    if image.format not in SUPPORTED_FORMATS:
        raise ImageError(415, f"unsupported image type {image.format}: {SUPPORTED_HINT}")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            413, f"image is {width}x{height} = {width * height} pixels, more than the {max_pixels} allowed"
        )
    if max(width, height) > max_side:
        raise ImageError(413, f"image is {width}x{height}, a side longer than the {max_side} px allowed")
    return image


def _too_many_pixels(pillow_message: str, max_pixels: int) -> ImageError:
    """The service's pixel-limit sentence for an image Pillow refused to open as a decompression bomb.

    Pillow refuses above twice its MAX_IMAGE_PIXELS before the service sees the size; such an image
    is over ``max_pixels`` too (the setting is capped below Pillow's limit).
    """
    found = _BOMB_PIXELS.search(pillow_message)
    size = f"{found.group(1)} pixels" if found else "more pixels than Pillow opens"
    return ImageError(413, f"image is {size}, more than the {max_pixels} allowed")


def _reject_declared_non_image(content_type: str | None) -> None:
    if content_type and content_type.lower().startswith("video/"):
        raise ImageError(415, f"this is a video ({content_type}), not an image: {VIDEO_HINT}")
    if content_type and content_type.lower().startswith(NON_IMAGE_MEDIA_PREFIXES):
        raise ImageError(415, f"unsupported media type {content_type}: {SUPPORTED_HINT}")


def sniff_container(head: bytes) -> str | None:
    """The video container named by a file's first 12 bytes, if it is one this service reads."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide"):
        return "MP4/MOV"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "WebM/MKV"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    return None


def _unidentified_error(data: bytes) -> ImageError:
    """Why Pillow could not open the bytes: a video, another known type, text, or a corrupt image."""
    container = sniff_container(data[:12])
    if container is not None:
        return ImageError(415, f"this is a video ({container}), not an image: {VIDEO_HINT}")
    for magic, kind in KNOWN_OTHER_TYPES.items():
        if data.startswith(magic):
            return ImageError(415, f"unsupported file type {kind}: {SUPPORTED_HINT}")
    if _looks_like_text(data):
        return ImageError(415, f"unsupported file type text: {SUPPORTED_HINT}")
    return ImageError(400, "not a recognised image: the file is corrupt or not an image")


def _looks_like_text(data: bytes) -> bool:
    """UTF-8 without control characters other than whitespace (checked on the first 4 KB)."""
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # a character cut by the 4 KB sample is still text
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\n\r\f" for ch in text)


def decoded_bytes(image: Image.Image, color: bool) -> int:
    """An upper bound of the memory :func:`decode_opened` takes at its peak.

    Pillow's decoded image, the uint8 output and its upright copy (RGB and gray with ``color``),
    and the temporaries of one chunk of rows (at most 16 bytes a pixel).
    """
    width, height = image.size
    source = 1 if _decodes_to_gray(image, color) else MODE_BYTES.get(image.mode, 4)
    output = 2 * 3 + 1 if color else 2 * 1
    return width * height * (source + output) + 16 * width * CHUNK_ROWS


def decode_opened(image: Image.Image, color: bool = True) -> DecodedImage:
    """Decode an image from :func:`open_image`: (H, W) gray, plus (H, W, 3) RGB when ``color``."""
    orientation = exif_orientation(image)
    if _decodes_to_gray(image, color):
        image.draft("L", image.size)  # libjpeg converts to grayscale while decoding: no RGB copy
    name = SUPPORTED_FORMATS[str(image.format)]
    try:
        try:
            image.load()
        except Exception as exc:  # Pillow raises OSError, SyntaxError, zlib.error, ... for broken data
            raise ImageError(400, f"corrupt or truncated {image.format} image ({exc})") from exc
        pixels = to_uint8(image, color)
    finally:
        image.close()  # frees the decoded pixels now, whoever still holds the Image object
    pixels = upright(pixels, orientation)
    gray = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    return DecodedImage(pixels=pixels, gray=gray, format=name)


def _decodes_to_gray(image: Image.Image, color: bool) -> bool:
    return not color and image.format in ("JPEG", "MPO") and image.mode in ("RGB", "YCbCr")
