"""Server CPU per /stream frame with and without face following (``python -m bench.stream_follow``).

The clip: 150 JPEG frames of 640x480, a window panning slowly over the benchmark frame's
scene (the astronaut, face ~90 px), as a hand-held webcam would see it. Each configuration
starts the service (``python -m service``, one ONNX Runtime thread), streams the clip over
/stream (one frame in flight) and records the server process's CPU time per frame (decoding,
detection, cropping, inference and the reply) and the frames in which a face was found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from typing import Any

import cv2
import numpy as np
from websockets.asyncio.client import connect

from bench.common import ASTRONAUT, output, r3
from bench.server import RunningService, service_process

FRAMES = 150


def panning_clip(frames: int = FRAMES) -> list[bytes]:
    """640x480 JPEG windows moving along a slow ellipse over a mirrored 800x600 scene."""
    image = cv2.imread(str(ASTRONAUT))
    assert image is not None, f"cannot read {ASTRONAUT}"
    photo = cv2.resize(image, (480, 480), interpolation=cv2.INTER_AREA)
    scene = cv2.copyMakeBorder(photo, 60, 60, 160, 160, cv2.BORDER_REFLECT)
    clip = []
    for index in range(frames):
        phase = 2 * math.pi * index / frames
        x, y = round(80 + 70 * math.cos(phase)), round(60 + 50 * math.sin(phase))
        window = np.ascontiguousarray(scene[y : y + 480, x : x + 640])
        clip.append(cv2.imencode(".jpg", window, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return clip


async def stream_clip(service: RunningService, clip: list[bytes]) -> dict[str, Any]:
    faces = []
    async with connect(f"ws://127.0.0.1:{service.port}/stream", compression=None, max_size=None) as ws:
        await ws.send(clip[0])  # warm-up frame, not counted
        await ws.recv()
        cpu_began = service.cpu_seconds()
        for frame in clip:
            await ws.send(frame)
            faces.append(len(json.loads(await ws.recv())["faces"]))
        cpu = service.cpu_seconds() - cpu_began
    return {"cpu_ms_per_frame": r3(1000 * cpu / len(clip)), "frames_with_a_face": sum(n > 0 for n in faces)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="NAME/VERSION to serve instead of the default (results get its name)")
    args = parser.parse_args(argv)
    model = {}
    if args.model:
        name, version = args.model.split("/")
        model = {"FER_MODEL_NAME": name, "FER_MODEL_VERSION": version}
    clip = panning_clip()
    rows = []
    for detector in ("haar", "blazeface"):
        for follow in (False, True):
            env = {"FER_DETECTOR": detector, "FER_STREAM_FOLLOW_FACES": str(follow).lower(), **model}
            with service_process({**env, "FER_ORT_INTRA_OP_THREADS": "1"}) as service:
                measured = asyncio.run(stream_clip(service, clip))
            row = {"detector": detector, "following": follow, "frames": len(clip), **measured}
            print(row)
            rows.append(row)
    suffix = f"-{args.model.replace('/', '-')}" if args.model else ""
    output(f"stream_follow{suffix}.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
