"""The request pipeline shared by /predict, /predict/batch, /stream and /predict/video: bytes -> faces + timings.

Each image takes an in-flight slot (or gets 503 at once), then a reservation of decode memory
sized from its header (waiting up to ``decode_wait_s``, then 503). Decoding, detection and
cropping run in one worker thread; the faces are classified in a shared micro-batch. Slot and
memory are held by a :class:`~service.leases.Lease`, so they are given back when the worker
thread is done, not when a disconnecting client cancels the request.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from PIL import Image

from service.annotate import annotate, encode_jpeg
from service.batching import MicroBatcher, QueueFullError
from service.decoding import DecodedImage, ImageError, decode_opened, decoded_bytes, open_image
from service.faces.detector import Box
from service.inference import DetectOptions, EmotionRecognizer, FacePrediction, Recognition
from service.leases import BudgetTimeoutError, ByteBudget, Lease, run_holding
from service.limits import Limiter
from service.metrics import Metrics
from service.schemas import FaceOut, ImageSize, ModelRef, PredictResponse, Timings
from service.settings import Settings


@dataclass(frozen=True)
class ImageAnalysis:
    """One analysed image: its size, faces, stage timings and, when asked for, the annotated JPEG."""

    width: int
    height: int
    recognition: Recognition
    decode_ms: float
    total_ms: float
    annotated_jpeg: bytes | None = None

    @property
    def faces(self) -> list[FacePrediction]:
        return self.recognition.faces

    def to_response(self, model: ModelRef) -> PredictResponse:
        return PredictResponse(
            model=model,
            image=ImageSize(width=self.width, height=self.height),
            faces=[FaceOut.of(face) for face in self.faces],
            timings_ms=Timings(
                decode=round(self.decode_ms, 3),
                detect=round(self.recognition.detect_ms, 3),
                infer=round(self.recognition.infer_ms, 3),
                total=round(self.total_ms, 3),
            ),
        )


@dataclass(frozen=True)
class _Located:
    """What the worker thread hands back: small arrays only, plus the pixels when they are drawn on."""

    boxes: list[Box]
    inputs: np.ndarray
    width: int
    height: int
    decode_ms: float
    detect_ms: float
    image: DecodedImage | None


def capped_options(options: DetectOptions | None, max_faces: int) -> DetectOptions:
    """The client's options with at most ``max_faces`` faces (``FER_MAX_FACES``), whatever it asked for."""
    options = options or DetectOptions()
    return replace(options, max_faces=min(options.max_faces or max_faces, max_faces))


def in_flight_limit(capacity: int, metrics: Metrics) -> Limiter:
    """The images in the pipeline (``FER_MAX_IN_FLIGHT``), counted in the ``fer_images_in_flight`` gauge."""
    return Limiter(capacity, "images are already being analysed", metrics.images_in_flight.set)


class ImageAnalyzer:
    """Decode and detect in a worker thread, classify in a shared batch, all within the limits."""

    def __init__(
        self,
        recognizer: EmotionRecognizer,
        batcher: MicroBatcher,
        in_flight: Limiter,
        settings: Settings,
        executor: Executor,
        metrics: Metrics,
    ) -> None:
        self.recognizer = recognizer
        self.metrics = metrics
        self.batcher = batcher
        self.in_flight = in_flight
        self.settings = settings
        self.budget = ByteBudget(settings.decode_budget_bytes, on_change=metrics.decode_bytes_reserved.set)
        self.executor = executor
        self.model_ref = ModelRef(name=recognizer.model.name, version=recognizer.model.version)

    async def analyse(
        self,
        data: bytes,
        content_type: str | None = None,
        options: DetectOptions | None = None,
        annotated: bool = False,
    ) -> ImageAnalysis:
        """Raises ImageError (400/413/415) for unusable bytes and QueueFullError when overloaded."""
        slot = self.in_flight.acquire()
        try:
            return await self._analyse(slot, data, content_type, self._capped(options), annotated)
        finally:
            slot.drop()

    async def recognise(
        self, gray: np.ndarray, options: DetectOptions | None = None, memory: Lease | None = None
    ) -> Recognition:
        """A decoded grayscale frame (of a video) through the same slot, memory budget, threads and batches.

        ``memory``: a reservation that already covers this frame (a video's, made for all its
        frames at once: a job holding memory while it waits for more could deadlock another).
        """
        slot = self.in_flight.acquire()
        try:
            capped = self._capped(options)
            own = memory is None
            memory = memory or await self.reserve_memory(self.frame_bytes(gray.shape[0], gray.shape[1], capped))
            try:
                work = partial(self._locate_frame, gray, capped)
                located = await run_holding([slot, memory], self.executor, work)
            finally:
                if own:
                    memory.drop()
            return await self._classify(located)
        finally:
            slot.drop()

    def frame_bytes(self, height: int, width: int, options: DetectOptions | None = None) -> int:
        """The memory of a decoded grayscale frame being analysed: its pixels and the face search's."""
        return height * width + self.recognizer.detector_for(self._capped(options)).working_bytes(height, width)

    def _capped(self, options: DetectOptions | None) -> DetectOptions:
        return capped_options(options, self.settings.max_faces)

    async def _analyse(
        self, slot: Lease, data: bytes, content_type: str | None, options: DetectOptions, annotated: bool
    ) -> ImageAnalysis:
        began = time.perf_counter()
        jpeg: bytes | None = None
        header = await run_holding(
            [slot],
            self.executor,
            partial(open_image, data, self.settings.max_pixels, content_type, self.settings.max_image_side),
        )
        memory = await self.reserve_memory(self._decode_reservation(header, options, annotated))
        try:
            located = await run_holding(
                [slot, memory], self.executor, partial(self._locate, header, options, annotated)
            )
            if annotated:  # the pixels live on until they are drawn on
                recognition = await self._classify(located)
                jpeg = await self._annotate(slot, memory, located, recognition)
        finally:
            memory.drop()  # without annotation the pixels went with the worker thread
        if not annotated:
            recognition = await self._classify(located)
        total_ms = 1000 * (time.perf_counter() - began)
        return ImageAnalysis(located.width, located.height, recognition, located.decode_ms, total_ms, jpeg)

    async def batch_reservation(self, uploads: list[tuple[bytes, str | None]], options: DetectOptions) -> int:
        """The decode memory a batch would reserve in all (files that are no usable image count 0)."""
        capped = self._capped(options)

        def reservation(data: bytes, content_type: str | None) -> int:
            try:
                header = open_image(data, self.settings.max_pixels, content_type, self.settings.max_image_side)
            except ImageError:
                return 0
            # The budget lets an image bigger than all of it in alone, holding all of it.
            return min(self._decode_reservation(header, capped, False), self.budget.capacity)

        return sum(await run_holding([], self.executor, lambda: [reservation(*upload) for upload in uploads]))

    def _decode_reservation(self, header: Image.Image, options: DetectOptions, annotated: bool) -> int:
        """Decoding's peak and the face search's working memory, from the image header."""
        width, height = header.size
        return decoded_bytes(header, annotated) + self.recognizer.detector_for(options).working_bytes(height, width)

    async def reserve_memory(self, amount: int) -> Lease:
        """A lease on ``amount`` bytes of the decode budget; QueueFullError (503) if none is free in time."""
        try:
            return await self.budget.reserve(amount, self.settings.decode_wait_s)
        except BudgetTimeoutError as exc:
            raise QueueFullError(str(exc)) from None

    def _locate(self, header: Image.Image, options: DetectOptions, annotated: bool) -> _Located:
        """Runs in a worker thread: decode, detect and crop."""
        began = time.perf_counter()
        image = decode_opened(header, color=annotated)
        decoded = time.perf_counter()
        boxes, inputs = self.recognizer.locate(image.gray, options)
        detect_ms = 1000 * (time.perf_counter() - decoded)
        kept = image if annotated else None
        return _Located(boxes, inputs, image.width, image.height, 1000 * (decoded - began), detect_ms, kept)

    def _locate_frame(self, gray: np.ndarray, options: DetectOptions) -> _Located:
        """Runs in a worker thread: detect and crop a frame that needs no decoding."""
        began = time.perf_counter()
        boxes, inputs = self.recognizer.locate(gray, options)
        detect_ms = 1000 * (time.perf_counter() - began)
        return _Located(boxes, inputs, gray.shape[1], gray.shape[0], decode_ms=0.0, detect_ms=detect_ms, image=None)

    async def _classify(self, located: _Located) -> Recognition:
        began = time.perf_counter()
        labels = len(self.recognizer.labels)
        probs = await self.batcher.submit(located.inputs) if located.boxes else np.zeros((0, labels), np.float32)
        faces = self.recognizer.postprocess(located.boxes, probs)
        self._count(faces)
        return Recognition(faces, detect_ms=located.detect_ms, infer_ms=1000 * (time.perf_counter() - began))

    async def _annotate(self, slot: Lease, memory: Lease, located: _Located, recognition: Recognition) -> bytes:
        assert located.image is not None
        pixels = located.image.pixels
        return await run_holding(
            [slot, memory], self.executor, lambda: encode_jpeg(annotate(pixels, recognition.faces))
        )

    def _count(self, faces: list[FacePrediction]) -> None:
        self.metrics.faces_detected.inc(len(faces))
        for face in faces:
            self.metrics.predictions.labels(emotion=face.emotion).inc()
