"""The request pipeline shared by /predict, /predict/batch and /stream: bytes -> faces + timings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from service.batching import MicroBatcher, QueueFullError
from service.decoding import DecodedImage, decode_image
from service.inference import DetectOptions, EmotionRecognizer, FacePrediction, Recognition
from service.metrics import Metrics
from service.schemas import FaceOut, ImageSize, ModelRef, PredictResponse, Timings


@dataclass(frozen=True)
class ImageAnalysis:
    """One analysed image: decoded pixels (for annotation), faces and stage timings."""

    image: DecodedImage
    recognition: Recognition
    decode_ms: float
    total_ms: float

    @property
    def faces(self) -> list[FacePrediction]:
        return self.recognition.faces

    def with_faces(self, faces: list[FacePrediction]) -> ImageAnalysis:
        return replace(self, recognition=replace(self.recognition, faces=faces))

    def to_response(self, model: ModelRef) -> PredictResponse:
        return PredictResponse(
            model=model,
            image=ImageSize(width=self.image.width, height=self.image.height),
            faces=[FaceOut.of(face) for face in self.faces],
            timings_ms=Timings(
                decode=round(self.decode_ms, 3),
                detect=round(self.recognition.detect_ms, 3),
                infer=round(self.recognition.infer_ms, 3),
                total=round(self.total_ms, 3),
            ),
        )


class ImageAnalyzer:
    """Decode in a worker thread, detect in a worker thread, classify in a shared batch.

    At most ``max_in_flight`` images are in that pipeline at once; more get QueueFullError (503)
    at once, so an overload is refused instead of queueing without bound for the worker threads.
    """

    def __init__(
        self,
        recognizer: EmotionRecognizer,
        batcher: MicroBatcher,
        metrics: Metrics,
        max_pixels: int,
        max_in_flight: int = 64,
    ) -> None:
        self.recognizer = recognizer
        self.batcher = batcher
        self.metrics = metrics
        self.max_pixels = max_pixels
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # only touched on the event loop thread, so no lock
        # Every image in flight may still submit a job, so the batcher waits for company only while
        # there are more of them than it has collected (an over-estimate: finished images that have
        # not yet left analyse() also count, which just means waiting as it always did).
        batcher.upcoming = lambda: self.in_flight
        self.model_ref = ModelRef(name=recognizer.model.name, version=recognizer.model.version)

    async def analyse(
        self, data: bytes, content_type: str | None = None, options: DetectOptions | None = None
    ) -> ImageAnalysis:
        """Raises ImageError (400/413/415) for unusable bytes and QueueFullError when overloaded."""
        with self._in_flight_slot():
            return await self._analyse(data, content_type, options)

    async def recognise(self, gray: np.ndarray, options: DetectOptions | None = None) -> Recognition:
        """An already decoded grayscale image (a video frame) through the same detection, batches and limit."""
        with self._in_flight_slot():
            recognition = await self.recognizer.predict_async(gray, self.batcher, options)
        self._count(recognition.faces)
        return recognition

    @contextmanager
    def _in_flight_slot(self) -> Iterator[None]:
        """Count one image in the pipeline, or raise QueueFullError (503) at once when it is full."""
        if self.in_flight >= self.max_in_flight:
            raise QueueFullError(f"{self.in_flight} images are already being analysed")
        self.in_flight += 1
        self.metrics.images_in_flight.set(self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.images_in_flight.set(self.in_flight)

    async def _analyse(self, data: bytes, content_type: str | None, options: DetectOptions | None) -> ImageAnalysis:
        began = time.perf_counter()
        image = await asyncio.to_thread(decode_image, data, self.max_pixels, content_type)
        decoded = time.perf_counter()
        recognition = await self.recognizer.predict_async(image.gray, self.batcher, options)
        self._count(recognition.faces)
        total_ms = 1000 * (time.perf_counter() - began)
        return ImageAnalysis(image, recognition, decode_ms=1000 * (decoded - began), total_ms=total_ms)

    def _count(self, faces: list[FacePrediction]) -> None:
        self.metrics.faces_detected.inc(len(faces))
        for face in faces:
            self.metrics.predictions.labels(emotion=face.emotion).inc()
