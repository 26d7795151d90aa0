"""Where a request's CPU time goes: decode, detect, preprocess and infer for a 640x480 one-face JPEG.

Every stage runs on one thread (OpenCV and ONNX Runtime pinned to one), so its wall time is its
CPU time, and ``cores / CPU seconds per request`` is the most requests/s the service could
answer if HTTP, JSON and scheduling cost nothing: the CPU limit the HTTP results are held to.
Detection latency, the 10 ms target, is timed apart with OpenCV's thread pool, as the service runs it.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.common import frame_640x480, r3, time_call
from bench.detect_sweep import detect_ms, sweep
from bench.model import open_session
from service.decoding import decode_image
from service.faces.haar import HaarConfig, HaarDetector
from service.model_store import load_model_card
from service.preprocessing import preprocess_face, to_model_input
from service.settings import Settings


def stage_times(model_dir: Path, min_seconds: float = 1.0) -> dict[str, Any]:
    """Median milliseconds of each stage with the service's default settings, and the CPU limit."""
    cv2.setNumThreads(1)
    settings = Settings()
    card = load_model_card(model_dir)
    cfg = card.preprocessing
    jpeg = frame_640x480()
    image = decode_image(jpeg, settings.max_pixels, color=False)
    detector = HaarDetector(HaarConfig.from_settings(settings))
    boxes = detector.detect(image.gray)
    crops = [image.gray[b.y : b.y + b.h, b.x : b.x + b.w] for b in boxes]
    inputs = to_model_input(np.stack([preprocess_face(c, cfg) for c in crops]), cfg)
    session = open_session(card.onnx_path, threads=1)
    stages = {
        "decode": lambda: decode_image(jpeg, settings.max_pixels, color=False),
        "detect": lambda: detector.detect(image.gray),
        "preprocess": lambda: to_model_input(np.stack([preprocess_face(c, cfg) for c in crops]), cfg),
        "infer": lambda: session.run([card.output_name], {card.input_name: inputs}),
    }
    ms = {name: r3(1000 * float(np.median(time_call(fn, min_seconds)))) for name, fn in stages.items()}
    cpu_ms = sum(ms.values())
    cores = len(os.sched_getaffinity(0))
    latency = detect_ms(detector, image.gray, cores, min_seconds)  # as the service runs it: a thread per core
    return {
        "image": {"width": 640, "height": 480, "jpeg_bytes": len(jpeg), "faces": [b.as_dict() for b in boxes]},
        "stages_ms": ms,
        "detect_latency_ms": latency,
        "detector": asdict(detector.config),
        "cpu_ms_per_request": r3(cpu_ms),
        "cores": cores,
        "cpu_limit_rps": r3(cores * 1000 / cpu_ms),
        "detect_variants": sweep(image.gray, settings.detect_min_neighbors, settings.detect_min_face, min_seconds / 2),
    }
