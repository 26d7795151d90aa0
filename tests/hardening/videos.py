"""Videos for the hardening tests: MJPEG AVIs whose frames may change size, and their uploads.

OpenCV's VideoWriter keeps one frame size; a hostile file need not. An AVI of MJPEG frames is
each frame a whole JPEG, so a minimal muxer (RIFF chunks, RFC 2361's BITMAPINFOHEADER and an
``idx1`` index) writes one whose frames have any sizes, its header declaring the first's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import cv2
import numpy as np

BOUNDARY = "hardening-video"
MJPG = b"MJPG"
KEYFRAME = 0x10  # AVIIF_KEYFRAME; also avih's AVIF_HASINDEX


def chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


def riff_list(kind: bytes, body: bytes) -> bytes:
    return chunk(b"LIST", kind + body)


def mjpeg_avi(frames: Sequence[np.ndarray], fps: int = 10) -> bytes:
    """An AVI of ``frames`` (BGR or gray arrays, any sizes) as JPEGs; the header declares the first frame's size."""
    jpegs = [cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes() for frame in frames]
    height, width = frames[0].shape[:2]
    largest = max(len(jpeg) for jpeg in jpegs)
    avih = struct.pack("<14I", 1_000_000 // fps, 0, 0, KEYFRAME, len(frames), 0, 1, largest, width, height, 0, 0, 0, 0)
    strh = (
        b"vids"
        + MJPG
        + struct.pack("<IHHIIIIIIiI4h", 0, 0, 0, 0, 1, fps, 0, len(frames), largest, -1, 0, 0, 0, width, height)
    )
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, MJPG, width * height * 3, 0, 0, 0, 0)
    header = riff_list(b"hdrl", chunk(b"avih", avih) + riff_list(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    movi, index, offset = b"", b"", 4  # idx1 offsets count from the "movi" type field
    for jpeg in jpegs:
        index += b"00dc" + struct.pack("<III", KEYFRAME, offset, len(jpeg))
        movi += chunk(b"00dc", jpeg)
        offset = 4 + len(movi)
    body = b"AVI " + header + riff_list(b"movi", movi) + chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def video_upload(port: int, video: bytes, query: str = "") -> bytes:
    """A complete POST /predict/video request carrying ``video`` as the file."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="clip.avi"\r\n'
            "Content-Type: video/x-msvideo\r\n\r\n"
        ).encode()
        + video
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST /predict/video{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def smooth_frames(side: int, count: int) -> list[np.ndarray]:
    """Gray gradients of ``side`` x ``side``, a little different each: tiny JPEGs that decode to full size."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    return [((ramp[None, :] + ramp[:, None] + 8 * i) % 256).astype(np.uint8) for i in range(count)]
