"""Loading what a recognizer needs: the model's card, its ONNX Runtime session and the face detectors.

The server's lifespan, the library, the command lines and the Ray workers all load through
:func:`load_model`, so each serves the same model, detectors and crops for the same ``FER_*``
settings. Loading is blocking and checks as it goes: a missing or broken model raises
:class:`~service.model_store.ModelLoadError`, a missing detector
:class:`~service.faces.detector.DetectorLoadError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnxruntime as ort

from service.faces.detector import Detector
from service.faces.loading import load_detectors
from service.inference import CropPolicy, EmotionRecognizer
from service.model_store import ModelCard, create_session, open_model
from service.settings import Settings


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    session: ort.InferenceSession
    detector: Detector  # the deployment's default (FER_DETECTOR)
    detectors: dict[str, Detector]  # every detector, by name, for requests naming one
    crops: CropPolicy

    def recognizer(self) -> EmotionRecognizer:
        return EmotionRecognizer(self.card, self.session, self.detector, self.detectors, self.crops)


def load_model(settings: Settings) -> LoadedModel:
    """Open and verify the configured model and the face detectors (blocking; raises ModelLoadError)."""
    card = open_model(settings.model_store, settings.model_name, settings.model_version, settings.model_variant)
    session = create_session(card, settings.ort_intra_op_threads, settings.ort_inter_op_threads)
    detectors = load_detectors(settings)
    crops = CropPolicy(align=settings.align_faces, frame=settings.frame_crops)
    return LoadedModel(card, session, detectors[settings.detector], detectors, crops)
