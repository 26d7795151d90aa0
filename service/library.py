"""The service as a Python library: the faces and emotions of images, with no server.

    import service
    faces = service.analyze("photo.jpg")              # a path, bytes, or a numpy image (BGR or gray)
    faces[0].emotion, faces[0].confidence, faces[0].box.x

    analyzer = service.FaceAnalyzer(detector="blazeface")   # load the model once for many images
    faces = analyzer.analyze(image_bytes, max_faces=3)

The faces are those POST /predict answers (:class:`~service.schemas.FaceOut`, the JSON's ``faces``):
the same decoding and pixel limit, detectors, crops, model and ``FER_*`` settings, through the
same :class:`~service.inference.EmotionRecognizer`; only the classifier runs in the caller's
thread instead of the server's shared batches. The models are in ``model_store/``: nothing is
downloaded.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from service.analysis import capped_options
from service.decoding import decode_image
from service.inference import DetectOptions
from service.loading import load_model
from service.schemas import FaceOut, ModelRef
from service.settings import Settings

ImageInput = str | os.PathLike[str] | bytes | np.ndarray


class FaceAnalyzer:
    """A loaded model and detectors, reused for every image; thread-safe.

    ``model``, ``version`` and ``detector`` override ``FER_MODEL_NAME``, ``FER_MODEL_VERSION`` and
    ``FER_DETECTOR``; ``settings`` replaces the environment altogether.
    """

    def __init__(
        self,
        model: str | None = None,
        version: str | None = None,
        detector: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        chosen = {"model_name": model, "model_version": version, "detector": detector}
        overrides = {name: value for name, value in chosen.items() if value is not None}
        # Validated like the server's settings: an unknown detector fails here, not per image.
        self.settings = Settings(**{**(settings or Settings()).model_dump(), **overrides})
        self.recognizer = load_model(self.settings).recognizer()
        card = self.recognizer.model
        self.model = ModelRef(name=card.name, version=card.version)

    def analyze(
        self,
        image: ImageInput,
        *,
        detector: str | None = None,
        max_faces: int | None = None,
        min_face_size: int | None = None,
        detect: bool = True,
    ) -> list[FaceOut]:
        """The faces of one image, largest first; raises ImageError (with a sentence) for unusable input."""
        options = DetectOptions(max_faces=max_faces, min_face_size=min_face_size, detect=detect, detector=detector)
        faces = self.recognizer.predict(self._pixels(image), capped_options(options, self.settings.max_faces))
        return [FaceOut.of(face) for face in faces]

    def _pixels(self, image: ImageInput) -> np.ndarray:
        """Arrays as they are; files and bytes decoded as /predict decodes uploads (grayscale, EXIF upright)."""
        if isinstance(image, np.ndarray):
            return image
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        return decode_image(data, self.settings.max_pixels, color=False).gray


@lru_cache(maxsize=4)
def shared_analyzer(model: str | None = None, version: str | None = None) -> FaceAnalyzer:
    """One analyzer per model, loaded on first use, so repeated :func:`analyze` calls stay fast."""
    return FaceAnalyzer(model=model, version=version)


def analyze(
    image: ImageInput, *, model: str | None = None, version: str | None = None, **options: Any
) -> list[FaceOut]:
    """The faces of one image; ``options``: ``detector``, ``max_faces``, ``min_face_size``, ``detect``."""
    return shared_analyzer(model, version).analyze(image, **options)
