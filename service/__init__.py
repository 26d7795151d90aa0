"""FER inference service: FastAPI + ONNX Runtime, also usable as a library.

    import service
    faces = service.analyze("photo.jpg")     # no server; the same faces as POST /predict

Importing the package loads nothing: :func:`analyze`, :class:`FaceAnalyzer` and
:class:`ImageError` are imported on first use (the model and ONNX Runtime with them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.decoding import ImageError
    from service.library import FaceAnalyzer, analyze

__all__ = ["FaceAnalyzer", "ImageError", "analyze"]

_LAZY = {"analyze": "service.library", "FaceAnalyzer": "service.library", "ImageError": "service.decoding"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'service' has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
