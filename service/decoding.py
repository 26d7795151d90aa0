"""Uploaded bytes -> pixels, with the checks that decide between 400, 413 and 415.

Pillow reads the header first (format and size, without decoding the pixels), so an image
that would be too large is refused before any memory is spent on it. EXIF orientation is
applied, and 16-bit, palette, grayscale and transparent images all come out as uint8.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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
NON_IMAGE_MEDIA_PREFIXES = ("text/", "application/pdf", "application/json", "application/zip", "video/", "audio/")


class ImageError(Exception):
    """An upload that cannot be used; ``status_code`` is the HTTP status to answer with."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    """Upright uint8 pixels: (H, W) grayscale or (H, W, 3) RGB, plus the grayscale used for detection."""

    pixels: np.ndarray
    gray: np.ndarray
    format: str

    @property
    def width(self) -> int:
        return int(self.gray.shape[1])

    @property
    def height(self) -> int:
        return int(self.gray.shape[0])


def decode_image(data: bytes, max_pixels: int, content_type: str | None = None) -> DecodedImage:
    """Decode an upload or raise :class:`ImageError` (400 corrupt, 413 too many pixels, 415 unsupported)."""
    if not data:
        raise ImageError(400, "empty file: expected an image")
    _reject_declared_non_image(content_type)
    image = _open_header(data)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            413, f"image is {width}x{height} = {width * height} pixels, more than the {max_pixels} allowed"
        )
    upright = _load_upright(image)
    pixels = _to_uint8_pixels(upright)
    gray = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    return DecodedImage(pixels=pixels, gray=gray, format=SUPPORTED_FORMATS[str(image.format)])


def _reject_declared_non_image(content_type: str | None) -> None:
    if content_type and content_type.lower().startswith(NON_IMAGE_MEDIA_PREFIXES):
        raise ImageError(415, f"unsupported media type {content_type}: {SUPPORTED_HINT}")


def _open_header(data: bytes) -> Image.Image:
    """Read format and size only; Pillow decodes pixels lazily."""
    try:
        # Pillow warns about huge headers; the caller's pixel limit decides about those, so the
        # warning is only noise. (catch_warnings is process-wide: at worst it hides another one.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(413, f"image has too many pixels ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unidentified_error(data) from exc
    if image.format not in SUPPORTED_FORMATS:
        raise ImageError(415, f"unsupported image type {image.format}: {SUPPORTED_HINT}")
    return image


def _unidentified_error(data: bytes) -> ImageError:
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


def _load_upright(image: Image.Image) -> Image.Image:
    """Decode the pixels (catching truncation) and apply the EXIF orientation."""
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, zlib.error, ... for broken data
        raise ImageError(400, f"corrupt or truncated {image.format} image ({exc})") from exc
    return upright if upright is not None else image


def _to_uint8_pixels(image: Image.Image) -> np.ndarray:
    """Grayscale stays (H, W); everything else becomes (H, W, 3) RGB; transparency goes over white."""
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        # 16-bit (and 32-bit) grayscale: keep the top 8 bits rather than clipping at 255.
        wide = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if mode != "F" else 1.0
        return np.clip(np.rint(wide * scale), 0, 255).astype(np.uint8)
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("1", "P") and "transparency" not in image.info:
        return np.asarray(image.convert("RGB" if mode == "P" else "L"), dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
