"""Emotions over time in recorded videos: ``python -m service.video`` and ``POST /predict/video``.

Frames are read with OpenCV's VideoCapture (:mod:`service.video.reader`), go through the same
detection and batched inference as ``/predict`` (:mod:`service.video.pipeline`), and each face
gets a track id that follows the person across frames (:mod:`service.faces.tracking`). The result is
one row per face and sampled frame (:mod:`service.video.timeline`), as CSV or JSON.
"""
