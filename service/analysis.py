"""The request pipeline shared by /predict, /predict/batch and /stream: bytes -> faces + timings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from service.batching import MicroBatcher
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
    """Decode in a worker thread, detect in a worker thread, classify in a shared batch."""

    def __init__(self, recognizer: EmotionRecognizer, batcher: MicroBatcher, metrics: Metrics, max_pixels: int) -> None:
        self.recognizer = recognizer
        self.batcher = batcher
        self.metrics = metrics
        self.max_pixels = max_pixels
        self.model_ref = ModelRef(name=recognizer.model.name, version=recognizer.model.version)

    async def analyse(
        self, data: bytes, content_type: str | None = None, options: DetectOptions | None = None
    ) -> ImageAnalysis:
        """Raises ImageError (400/413/415) for unusable bytes and QueueFullError when overloaded."""
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
