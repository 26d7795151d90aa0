"""Faces: the detector interface and its two implementations, crops, and faces over time.

:mod:`~service.faces.detector` (boxes, landmarks, the :class:`~service.faces.detector.Detector`
interface), :mod:`~service.faces.haar` and :mod:`~service.faces.blazeface` (the detectors),
:mod:`~service.faces.loading` (loading them from the model store), :mod:`~service.faces.framing`
and :mod:`~service.faces.crops` (boxes to FER-2013-like crops), :mod:`~service.faces.following`
(a stream's faces searched near their last boxes) and :mod:`~service.faces.tracking` (track ids).
"""
