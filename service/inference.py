"""Image -> faces -> emotion probabilities, usable without HTTP.

    recognizer = EmotionRecognizer(model, session, detector)
    faces = recognizer.predict(gray_image)                 # detect, crop, classify
    faces = recognizer.predict_faces([face_crop])          # crops that already are faces

The crop preprocessing is :mod:`service.preprocessing`, the very function training used,
so a face gets the same pixels here as in training and evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from service.batching import MicroBatcher, Upcoming
from service.faces.crops import crop_face
from service.faces.detector import Box, Detector, DetectorUnavailableError
from service.faces.following import FaceFollower
from service.faces.framing import NO_FRAMING
from service.metrics import Metrics
from service.model_store import ModelCard, ModelLoadError
from service.preprocessing import preprocess_face, to_grayscale, to_model_input


@dataclass(frozen=True)
class FacePrediction:
    """One face: where it is and the probability of each emotion (model label order)."""

    box: Box
    probabilities: dict[str, float]

    @property
    def emotion(self) -> str:
        return max(self.probabilities, key=lambda label: self.probabilities[label])

    @property
    def confidence(self) -> float:
        return self.probabilities[self.emotion]


@dataclass(frozen=True)
class DetectOptions:
    """Per-request knobs; None falls back to the service settings."""

    max_faces: int | None = None
    min_face_size: int | None = None
    detect: bool = True  # False: the whole image is one face crop (e.g. a FER-2013 image)
    detector: str | None = None  # a name of EmotionRecognizer.detectors; None: the default one
    # A stream's follower: faces searched near their last boxes (service.faces.following); None: whole image.
    follower: FaceFollower | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CropPolicy:
    """How detector boxes become crops (``FER_ALIGN_FACES``, ``FER_FRAME_CROPS``)."""

    align: bool = True  # level the eyes, for detectors with eye landmarks
    frame: bool = True  # apply the detector's measured FER-2013 framing


@dataclass(frozen=True)
class Recognition:
    """The faces of one image and where the time went."""

    faces: list[FacePrediction]
    detect_ms: float
    infer_ms: float


class EmotionRecognizer:
    """Face detection + the ONNX classifier described by a model card.

    ``detector`` is the default; ``alternatives`` are the others a request may name.
    """

    def __init__(
        self,
        model: ModelCard,
        session: ort.InferenceSession,
        detector: Detector,
        alternatives: Mapping[str, Detector] | None = None,
        crops: CropPolicy | None = None,
    ) -> None:
        self.model = model
        self.labels = model.labels
        self.detector = detector
        self.detectors: dict[str, Detector] = {**(alternatives or {}), detector.name: detector}
        self.crops = crops or CropPolicy()
        self._session = session

    def detector_for(self, options: DetectOptions | None) -> Detector:
        """The detector a request asked for, or the default; DetectorUnavailableError (400) for one not loaded."""
        name = options.detector if options is not None else None
        if name is None:
            return self.detector
        if name not in self.detectors:
            raise DetectorUnavailableError(name, sorted(self.detectors))
        return self.detectors[name]

    def predict(self, image: np.ndarray, options: DetectOptions | None = None) -> list[FacePrediction]:
        """Faces in a uint8 grayscale or BGR image, largest first, each with its probabilities."""
        boxes, inputs = self.locate(image, options or DetectOptions())
        return self.postprocess(boxes, self._infer(inputs))

    def predict_faces(self, crops: Sequence[np.ndarray]) -> list[FacePrediction]:
        """Classify images that already are face crops (any size, gray or BGR), one result each."""
        boxes = [Box(0, 0, crop.shape[1], crop.shape[0]) for crop in crops]
        return self.postprocess(boxes, self._infer(self._crops_to_input(list(crops))))

    def create_batcher(
        self, max_batch_size: int, max_wait_s: float, max_queue: int, metrics: Metrics, upcoming: Upcoming | None = None
    ) -> MicroBatcher:
        """A micro-batcher whose batches run through this recognizer's ONNX session."""
        return MicroBatcher(self._infer, max_batch_size, max_wait_s, max_queue, metrics, upcoming)

    def warm_up(self, batch_sizes: Sequence[int] = (1,)) -> None:
        """Run detection and every given batch size once, so the first request is not the slow one."""
        for detector in self.detectors.values():
            detector.detect(np.full((96, 96), 128, np.uint8))
        size = self.model.preprocessing.size
        for batch_size in batch_sizes:
            probs = self._infer(np.zeros((batch_size, size, size, 1), np.float32))
            if probs.shape != (batch_size, len(self.labels)):
                raise ModelLoadError(
                    f"{self.model.onnx_path}: output shape {probs.shape}, expected ({batch_size}, {len(self.labels)})"
                )

    def locate(self, image: np.ndarray, options: DetectOptions) -> tuple[list[Box], np.ndarray]:
        """Detection and preprocessing without inference: the boxes and the model input of their crops.

        With :meth:`postprocess` this lets a caller run inference elsewhere (in a shared batch).
        """
        if not options.detect:
            boxes = [Box(0, 0, image.shape[1], image.shape[0])]
            return boxes, self._crops_to_input([image])
        detector = self.detector_for(options)
        gray = to_grayscale(image)
        if options.follower is not None:
            boxes = options.follower.detect(detector, gray, options.min_face_size, options.max_faces)
        else:
            boxes = detector.detect(gray, options.min_face_size)[: options.max_faces]
        return boxes, self._preprocess(image, boxes, detector)

    def _preprocess(self, image: np.ndarray, boxes: Sequence[Box], detector: Detector) -> np.ndarray:
        """Crop every box (framed, aligned), apply the shared preprocessing -> float32 (N, size, size, 1)."""
        framing = detector.framing if self.crops.frame else NO_FRAMING
        return self._crops_to_input([crop_face(image, box, framing, self.crops.align) for box in boxes])

    def _crops_to_input(self, crops: list[np.ndarray]) -> np.ndarray:
        cfg = self.model.preprocessing
        if not crops:
            return np.zeros((0, cfg.size, cfg.size, 1), np.float32)
        return to_model_input(np.stack([preprocess_face(crop, cfg) for crop in crops]), cfg)

    def _infer(self, inputs: np.ndarray) -> np.ndarray:
        """One ONNX Runtime call; thread-safe, used directly by :meth:`predict` and by the batcher."""
        if len(inputs) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        outputs = self._session.run([self.model.output_name], {self.model.input_name: inputs})
        return np.asarray(outputs[0])

    def postprocess(self, boxes: Sequence[Box], probs: np.ndarray) -> list[FacePrediction]:
        """Pair boxes with label -> probability maps, renormalised so each sums to 1 in float64."""
        rows = np.clip(probs.astype(np.float64), 0.0, None)
        rows /= np.maximum(rows.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        return [
            FacePrediction(box, {label: float(p) for label, p in zip(self.labels, row, strict=True)})
            for box, row in zip(boxes, rows, strict=True)
        ]
