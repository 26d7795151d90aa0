"""Hypothesis strategies for hostile uploads: random bytes, truncated or bit-flipped real images,
and headers that claim huge (or negative) sizes."""

from __future__ import annotations

import struct
import zlib
from functools import cache

import cv2
import numpy as np
from hypothesis import strategies as st

from .helpers import ASTRONAUT

MAGICS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"GIF89a", b"%PDF-1.4")


@cache
def valid_images() -> dict[str, bytes]:
    """A 96x96 face crop as JPEG, PNG, WebP and BMP (small: fuzz cases stay cheap)."""
    crop = cv2.resize(cv2.imread(str(ASTRONAUT))[40:140, 120:220], (96, 96))
    return {ext: cv2.imencode(ext, crop)[1].tobytes() for ext in (".jpg", ".png", ".webp", ".bmp")}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header for ``width`` x ``height`` followed by a few bytes of pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """The valid JPEG with its frame header (SOF0) rewritten to ``width`` x ``height``."""
    data = bytearray(valid_images()[".jpg"])
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """The valid BMP with its info header rewritten (a negative height means top-down rows)."""
    data = bytearray(valid_images()[".bmp"])
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _flip(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out)


def truncated() -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(valid_images().values())).flatmap(
        lambda data: st.integers(0, len(data) - 1).map(lambda n: data[:n])
    )


def corrupted() -> st.SearchStrategy[bytes]:
    edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=8)
    return st.builds(_flip, st.sampled_from(sorted(valid_images().values())), edits)


def huge_headers() -> st.SearchStrategy[bytes]:
    dims16 = st.integers(0, 0xFFFF)
    return st.one_of(
        st.builds(png_claiming, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
        st.builds(jpeg_claiming, dims16, dims16),
        st.builds(bmp_claiming, st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1)),
    )


def hostile_uploads() -> st.SearchStrategy[bytes]:
    """Any of the hostile kinds, plus random bytes with and without an image's magic number."""
    with_magic = st.builds(lambda magic, rest: magic + rest, st.sampled_from(MAGICS), st.binary(max_size=512))
    return st.one_of(st.binary(max_size=2048), with_magic, truncated(), corrupted(), huge_headers())


@cache
def bombs_at_the_pixel_limit(side: int) -> dict[str, bytes]:
    """Small files that decode to ``side`` x ``side`` pixels: a 16-bit PNG, an RGBA PNG and a JPEG.

    A few kB to 2 MB each, but tens to hundreds of MB once decoded.
    """
    wide = np.zeros((side, side), np.uint16)
    wide[::64] = 40_000  # some content, still compressing to almost nothing
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 3] = 128
    noise = np.random.default_rng(0).integers(0, 255, (side // 16, side // 16, 3), dtype=np.uint8)
    photo = cv2.resize(noise, (side, side), interpolation=cv2.INTER_NEAREST)
    return {
        "png16": cv2.imencode(".png", wide)[1].tobytes(),
        "rgba": cv2.imencode(".png", rgba)[1].tobytes(),
        "jpeg": cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 60])[1].tobytes(),
    }
