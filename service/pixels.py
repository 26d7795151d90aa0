"""A decoded Pillow image -> upright uint8 numpy pixels, in bounded memory.

Memory is kept low on purpose: 16-bit by shifting, transparency blended in row chunks, and the
EXIF orientation applied to the final uint8 array rather than to a full-size Pillow copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112
TRANSPARENT_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
CHUNK_ROWS = 256  # rows converted at once: bounds the temporaries of conversion


def _is_gray(image: Image.Image) -> bool:
    """Single-channel sources stay (H, W) even when colour is asked for."""
    return image.mode in ("1", "L", "LA", "La", "I", "F") or image.mode.startswith("I;16")


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8) to apply to the pixels; 1 (as stored) when there is none or it is broken."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block is not worth refusing the image for
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply the EXIF orientation as numpy views, then one contiguous copy (of the uint8 output only)."""
    views = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    if orientation not in views:
        return pixels
    return np.ascontiguousarray(views[orientation](pixels))


def to_uint8(image: Image.Image, color: bool) -> np.ndarray:
    """(H, W) gray, or (H, W, 3) RGB when ``color``, converted a chunk of rows at a time.

    Chunks keep Pillow's conversions and numpy's temporaries small: only the decoded image and
    the uint8 output are ever full size.
    """
    width, height = image.size
    color = color and not _is_gray(image)
    out = np.empty((height, width, 3) if color else (height, width), np.uint8)
    convert = _chunk_converter(image, color)
    for top in range(0, height, CHUNK_ROWS):
        out[top : top + CHUNK_ROWS] = convert(image.crop((0, top, width, min(height, top + CHUNK_ROWS))))
    return out


def _chunk_converter(image: Image.Image, color: bool) -> Callable[[Image.Image], np.ndarray]:
    """16-bit keeps its top 8 bits (by shifting); transparency goes over white; the rest converts."""
    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _wide_to_uint8
    if mode in TRANSPARENT_MODES or "transparency" in image.info:
        return lambda chunk: _over_white(chunk, color)
    target = "RGB" if color else "L"
    return lambda chunk: np.asarray(chunk if chunk.mode == target else chunk.convert(target), dtype=np.uint8)


def _wide_to_uint8(chunk: Image.Image) -> np.ndarray:
    wide = np.asarray(chunk)
    if chunk.mode == "F":
        return np.clip(wide, 0, 255).astype(np.uint8)
    if wide.dtype.kind == "i":  # mode "I": int32 holding 16-bit values
        wide = np.clip(wide, 0, 65535)
    return (wide >> 8).astype(np.uint8)


def _over_white(chunk: Image.Image, color: bool) -> np.ndarray:
    rows = np.asarray(chunk.convert("RGBA" if color else "LA"), dtype=np.uint16)
    value, alpha = rows[..., :-1], rows[..., -1:]
    # value * a + 255 * (1 - a), rounded: 255 - (255 - value) * a / 255.
    blended = (255 - ((255 - value) * alpha + 127) // 255).astype(np.uint8)
    return blended if color else blended[..., 0]
