"""Face crops: the detector's box, reframed like FER-2013 and, with eye landmarks, turned upright."""

from __future__ import annotations

import math

import cv2
import numpy as np

from service.detection import Box
from service.framing import Framing


def eye_angle(box: Box) -> float:
    """Degrees the eye line is tilted (clockwise on screen, y pointing down); 0 without eye landmarks."""
    right, left = box.landmark("right_eye"), box.landmark("left_eye")
    if right is None or left is None:
        return 0.0
    # The person's right eye is on the image's left, so the eye line runs from it to the left eye.
    return math.degrees(math.atan2(left.y - right.y, left.x - right.x))


def crop_face(image: np.ndarray, box: Box, framing: Framing, align: bool) -> np.ndarray:
    """The face of ``box``: sliced out as is, or framed and rotated with one affine warp.

    The warp samples straight from the original image, so rotation and reframing cost one
    interpolation of the crop's pixels; parts outside the image repeat its border.
    """
    angle = eye_angle(box) if align else 0.0
    if angle == 0.0 and framing.is_identity:
        return image[box.y : box.y + box.h, box.x : box.x + box.w]
    width = max(1, round(framing.scale_x * box.w))
    height = max(1, round(framing.scale_y * box.h))
    centre_x, centre_y = _framed_centre(box, framing, math.radians(angle))
    matrix = cv2.getRotationMatrix2D((centre_x, centre_y), angle, 1.0)
    matrix[0, 2] += width / 2 - centre_x
    matrix[1, 2] += height / 2 - centre_y
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _framed_centre(box: Box, framing: Framing, radians: float) -> tuple[float, float]:
    """The box centre moved by the framing offset, measured along the (tilted) face's own axes."""
    cos, sin = math.cos(radians), math.sin(radians)
    shift_x, shift_y = framing.dx * box.w, framing.dy * box.h
    centre_x = box.x + box.w / 2 + shift_x * cos - shift_y * sin
    centre_y = box.y + box.h / 2 + shift_x * sin + shift_y * cos
    return centre_x, centre_y
