"""Server CPU per /stream frame with and without face following (``python -m bench.stream_follow``).

The clip: 150 JPEG frames of 640x480, a window panning slowly over the benchmark frame's
scene (the astronaut, face ~90 px), as a hand-held webcam would see it. Each configuration
streams the clip through an in-process app (one frame in flight) and records the process's
CPU time per frame (server work: decoding, detection, cropping, inference and the reply; the
test client's share is the same in every run) and the faces found per frame.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from bench.common import ASTRONAUT, RESULTS, r3
from service.app import create_app
from service.settings import Settings

FRAMES = 150


def panning_clip(frames: int = FRAMES) -> list[bytes]:
    """640x480 JPEG windows moving along a slow ellipse over a mirrored 800x600 scene."""
    photo = cv2.resize(cv2.imread(str(ASTRONAUT)), (480, 480), interpolation=cv2.INTER_AREA)
    scene = cv2.copyMakeBorder(photo, 60, 60, 160, 160, cv2.BORDER_REFLECT)
    clip = []
    for index in range(frames):
        phase = 2 * math.pi * index / frames
        x, y = round(80 + 70 * math.cos(phase)), round(60 + 50 * math.sin(phase))
        window = np.ascontiguousarray(scene[y : y + 480, x : x + 640])
        clip.append(cv2.imencode(".jpg", window, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return clip


def stream_clip(settings: Settings, clip: list[bytes]) -> dict[str, Any]:
    faces = []
    with TestClient(create_app(settings)) as client, client.websocket_connect("/stream") as ws:
        ws.send_bytes(clip[0])  # warm-up frame, not counted
        ws.receive_json()
        cpu_began = time.process_time()
        for frame in clip:
            ws.send_bytes(frame)
            faces.append(len(ws.receive_json()["faces"]))
        cpu = time.process_time() - cpu_began
    return {"cpu_ms_per_frame": r3(1000 * cpu / len(clip)), "frames_with_a_face": sum(n > 0 for n in faces)}


def main() -> None:
    clip = panning_clip()
    rows = []
    for detector in ("haar", "blazeface"):
        for follow in (False, True):
            settings = Settings(detector=detector, stream_follow_faces=follow, ort_intra_op_threads=1)
            row = {"detector": detector, "following": follow, "frames": len(clip), **stream_clip(settings, clip)}
            print(row)
            rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream_follow.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
