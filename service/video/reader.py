"""Video files in, sampled frames out, with the checks that decide between 400, 413 and 415.

Frames are decoded by OpenCV's VideoCapture (its bundled FFmpeg). FFmpeg opens far more than
videos, playlists that make it read other files among them, so an upload reaches it only when
its first bytes are one of the accepted containers (:func:`check_upload`). The declared length
is checked before any frame is decoded and the real one while decoding, since headers can lie.
"""

from __future__ import annotations

import ctypes
import logging
import math
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from service.decoding import ImageError, sniff_container

SUPPORTED_HINT = "send MP4, MOV, WebM, MKV or AVI"
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")
DECLARED_NON_VIDEO = ("image/", "text/", "audio/", "application/pdf", "application/json", "application/zip")
# A few frames short of the declared count is normal (rounded WebM durations, edit lists); more is truncation.
MISSING_FRAMES_TOLERATED = 2
EMPTY_FRAME = np.zeros((0, 0, 3), np.uint8)
# What an open reader holds per pixel of its frame size, measured on 3000x3000 MJPEG and MPEG-4
# clips: FFmpeg's decoded frames, OpenCV's BGR buffer and the BGR copy being converted (~8-12 bytes).
READER_BYTES_PER_PIXEL = 12
# OpenCV's BGR copy of a frame, which FFmpeg allocates: the largest single allocation of a valid video.
BGR_BYTES_PER_PIXEL = 3
# FFmpeg pads rows and heights to its alignment (5000x5000 planes are 5024 x 5024: +1 %).
ALIGNMENT_SLACK = 1.02
FFMPEG_DEFAULT_MAX_ALLOC = 2**31 - 1  # INT_MAX, FFmpeg's own default

logger = logging.getLogger(__name__)
# The cap set by limit_ffmpeg_allocations (0: none). A frame grown mid-stream may still take up to
# three planes at the cap (4:4:4) before its decoding fails: a reader reserves that much too.
_grown_frame_bytes = 0


def video_pixel_limit(max_pixels: int) -> int:
    """Frames a video may declare: OpenCV's BGR copy of one (3 bytes a pixel) must fit under
    FFmpeg's allocation cap of ``max_pixels`` bytes (8.3 MP at 25 MP: 4K UHD video fits)."""
    return max_pixels // BGR_BYTES_PER_PIXEL


class VideoError(ImageError):
    """An upload that is not a usable video; answered like ImageError (``status_code`` and ``detail``)."""


@dataclass(frozen=True)
class VideoLimits:
    """What a video may cost; the defaults (no limit) suit the trusted command line."""

    max_duration_s: float = math.inf
    max_frames: int = sys.maxsize  # frames decoded, sampled or not
    max_pixels: int = sys.maxsize  # width x height of a frame
    max_side: int = sys.maxsize  # its longer side


@dataclass(frozen=True)
class VideoInfo:
    """What the container declares: frame size, rate and count (0 when unknown)."""

    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class SampledFrame:
    """One analysed frame: its index in the video, its timestamp, its BGR pixels and their grayscale."""

    index: int
    time_s: float
    bgr: np.ndarray
    gray: np.ndarray  # converted in the decoding thread, not on the event loop


def is_truncated(info: VideoInfo, decoded: int) -> bool:
    """Whether ``decoded`` frames fall well short of the frame count the container declares."""
    return info.frame_count - decoded > MISSING_FRAMES_TOLERATED


def check_upload(head: bytes, content_type: str | None) -> None:
    """Raise VideoError unless ``head`` (at least the first 12 bytes) starts an accepted video container."""
    if not head:
        raise VideoError(400, "empty file: expected a video")
    if content_type and content_type.lower().startswith(DECLARED_NON_VIDEO):
        raise VideoError(415, f"unsupported media type {content_type}: {SUPPORTED_HINT}")
    if head.startswith(IMAGE_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        raise VideoError(415, f"this is an image, not a video: {SUPPORTED_HINT} (images go to /predict)")
    if sniff_container(head) is None:
        raise VideoError(415, f"not a recognised video: {SUPPORTED_HINT}")


def limit_ffmpeg_allocations(max_pixels: int | None) -> bool:
    """Cap every allocation of OpenCV's bundled FFmpeg at ``max_pixels`` bytes (None: FFmpeg's
    default), so that no frame with more than ``max_pixels`` pixels (8-bit) is ever decoded.
    The cap is process-wide.

    FFmpeg decodes a frame before anybody sees its size, and a frame may grow mid-stream: a 4.7 MB
    AVI of a 120x120 frame and 8000x8000 ones made FFmpeg allocate 64 MB a frame (OpenCV then
    scales each back to the first frame's size), and a 46,000-pixel square frame would take 2 GB.
    Over the cap the frame's buffer allocation fails and decoding stops there. Returns False where
    OpenCV's own FFmpeg library is not found (a system OpenCV build): no cap then.
    """
    global _grown_frame_bytes
    site = Path(cv2.__file__).resolve().parent.parent
    found = sorted(site.glob("opencv_python*.libs/libavutil-*.so*"))
    if not found:
        logger.warning("OpenCV's FFmpeg (libavutil) was not found: video frames are not capped in size")
        return False
    cap = FFMPEG_DEFAULT_MAX_ALLOC
    if max_pixels is not None:
        cap = min(cap, int(max_pixels * ALIGNMENT_SLACK))
    avutil = ctypes.CDLL(str(found[0]))
    avutil.av_max_alloc.argtypes = [ctypes.c_size_t]
    avutil.av_max_alloc(cap)
    _grown_frame_bytes = 0 if max_pixels is None else 3 * cap
    return True


class VideoReader:
    """An open video; iterate :meth:`frames` for every ``every``-th frame. Use as a context manager."""

    def __init__(self, path: Path, limits: VideoLimits | None = None, every: int = 1, keep_color: bool = True) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.limits = limits or VideoLimits()
        self.every = every
        self.keep_color = keep_color  # False: frames carry their grayscale only (a quarter of the memory)
        self.decoded = 0  # frames decoded so far
        # Frames are decoded in worker threads; the lock keeps close() from releasing the capture mid-frame.
        self._lock = threading.Lock()
        self._capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            if not self._capture.isOpened():
                raise VideoError(400, "not a readable video: the file is corrupt or truncated")
            self.info = self._probe()
            self._check_declared()
        except VideoError:
            self._capture.release()  # refused before the caller holds the reader: nobody else will
            raise

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._capture.release()

    @property
    def working_bytes(self) -> int:
        """The memory this reader holds while it decodes (frames it hands out not included): its
        declared frame size's buffers, and a grown frame's planes at FFmpeg's allocation cap."""
        return self.info.width * self.info.height * READER_BYTES_PER_PIXEL + _grown_frame_bytes

    @property
    def planned_frames(self) -> int | None:
        """How many frames :meth:`frames` should yield, if the container declares its length."""
        return math.ceil(self.info.frame_count / self.every) if self.info.frame_count else None

    @property
    def truncated(self) -> bool:
        """After :meth:`frames`: whether decoding stopped well short of the declared length."""
        return is_truncated(self.info, self.decoded)

    def frames(self) -> Iterator[SampledFrame]:
        """Decode every frame, yield every ``every``-th one (the first is frame 0)."""
        while (frame := self._next()) is not None:
            if frame.index % self.every == 0:
                yield frame

    def _next(self) -> SampledFrame | None:
        """Decode the next frame; convert its pixels only if it is sampled (the empty array otherwise)."""
        with self._lock:
            if not self._capture.grab():
                return None
            index, self.decoded = self.decoded, self.decoded + 1
            time_s = self._timestamp(index)
            self._check_progress(time_s)
            if index % self.every:
                return SampledFrame(index, time_s, EMPTY_FRAME, EMPTY_FRAME[..., 0])  # decoded, not converted
            ok, bgr = self._capture.retrieve()
            if not ok:
                return None
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            return SampledFrame(index, time_s, bgr if self.keep_color else EMPTY_FRAME, gray)

    def _probe(self) -> VideoInfo:
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise VideoError(400, "not a readable video: no video stream with a frame size")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)  # FFmpeg answers a huge negative when unknown
        return VideoInfo(
            width, height, fps if math.isfinite(fps) and fps > 0 else 0.0, int(count) if 0 < count < 1e12 else 0
        )

    def _check_declared(self) -> None:
        info, limits = self.info, self.limits
        size = f"{info.width}x{info.height}"
        if info.width * info.height > limits.max_pixels:
            raise VideoError(413, f"frames are {size}, more than the {limits.max_pixels} pixels allowed")
        if max(info.width, info.height) > limits.max_side:
            raise VideoError(413, f"frames are {size}, a side longer than the {limits.max_side} px allowed")
        if info.frame_count > limits.max_frames:
            raise VideoError(413, f"the video has {info.frame_count} frames, more than the {limits.max_frames} allowed")
        if info.duration_s > limits.max_duration_s:
            length = f"{info.duration_s:.1f} s"
            raise VideoError(413, f"the video lasts {length}, more than the {limits.max_duration_s:g} s allowed")

    def _check_progress(self, time_s: float) -> None:
        """The declared length can lie: enforce the limits on what is really decoded."""
        if self.decoded > self.limits.max_frames:
            raise VideoError(413, f"the video has more than the {self.limits.max_frames} frames allowed")
        if time_s > self.limits.max_duration_s:
            raise VideoError(413, f"the video lasts more than the {self.limits.max_duration_s:g} s allowed")

    def _timestamp(self, index: int) -> float:
        """The decoded frame's presentation time (variable frame rates included), else index / fps."""
        msec = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        if msec > 0 or index == 0:
            return msec / 1000.0
        return index / self.info.fps if self.info.fps else 0.0
