"""Test media: a Y4M clip for Chromium's fake webcam, built from a real face photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480


def webcam_frame(photo: Path, shift: int = 0) -> np.ndarray:
    """The photo at its own scale, centred on a grey 640x480 canvas and cropped to it (BGR).

    Not resized: the astronaut photo scaled to 480 px high gives the Haar cascade a second,
    false "face" on the space suit, which would make the live test depend on face order.
    """
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(photo)
    image = image[:HEIGHT, : WIDTH - 2 * abs(shift)]
    canvas = np.full((HEIGHT, WIDTH, 3), 127, np.uint8)
    left = (WIDTH - image.shape[1]) // 2 + shift
    top = (HEIGHT - image.shape[0]) // 2
    canvas[top : top + image.shape[0], left : left + image.shape[1]] = image
    return canvas


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Write BGR frames as a 4:2:0 Y4M clip, the format --use-file-for-fake-video-capture reads."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            # I420 is the Y plane followed by the quarter-size U and V planes, as Y4M wants.
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def face_clip(photo: Path, path: Path) -> Path:
    """A few frames with a small sideways drift (Chromium loops the clip)."""
    return write_y4m(path, [webcam_frame(photo, shift) for shift in (-8, -4, 0, 4, 8)])
