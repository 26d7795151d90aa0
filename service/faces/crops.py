"""Face crops: the detector's box, reframed like FER-2013 and, with eye landmarks, turned upright.

A crop is described by a :class:`CropFrame` (centre, sides, angle in the image) and cut from the
original image in one affine warp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from service.faces.detector import Box
from service.faces.framing import Framing


def eye_angle(box: Box) -> float:
    """Degrees the eye line is tilted (clockwise on screen, y pointing down); 0 without eye landmarks."""
    right, left = box.landmark("right_eye"), box.landmark("left_eye")
    if right is None or left is None:
        return 0.0
    # The person's right eye is on the image's left, so the eye line runs from it to the left eye.
    return math.degrees(math.atan2(left.y - right.y, left.x - right.x))


@dataclass(frozen=True)
class CropFrame:
    """Where a crop lies in the image: its centre, its sides and its angle (degrees, like :func:`eye_angle`).

    The crop's x axis runs along (cos angle, sin angle) in the image, so a face tilted by
    ``angle`` comes out upright.
    """

    centre_x: float
    centre_y: float
    width: float
    height: float
    angle: float = 0.0

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        """The image point at (u, v) crop sides from the crop's centre, along the crop's own axes."""
        cos, sin = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        du, dv = u * self.width, v * self.height
        return self.centre_x + du * cos - dv * sin, self.centre_y + du * sin + dv * cos


def frame_of(box: Box, framing: Framing, align: bool) -> CropFrame:
    """The crop of ``box`` moved and scaled by ``framing`` and, when ``align``, levelled by its eyes."""
    angle = eye_angle(box) if align else 0.0
    unmoved = CropFrame(box.x + box.w / 2, box.y + box.h / 2, box.w, box.h, angle)
    centre_x, centre_y = unmoved.to_image(framing.dx, framing.dy)
    return CropFrame(centre_x, centre_y, framing.scale_x * box.w, framing.scale_y * box.h, angle)


def warp_crop(image: np.ndarray, frame: CropFrame) -> np.ndarray:
    """The pixels of ``frame`` in one affine warp from the original image (outside it, its border repeats)."""
    width, height = max(1, round(frame.width)), max(1, round(frame.height))
    matrix = cv2.getRotationMatrix2D((frame.centre_x, frame.centre_y), frame.angle, 1.0)
    matrix[0, 2] += width / 2 - frame.centre_x
    matrix[1, 2] += height / 2 - frame.centre_y
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_face(image: np.ndarray, box: Box, framing: Framing, align: bool) -> np.ndarray:
    """The face of ``box``: sliced out as is, or framed and rotated with one affine warp.

    The warp samples straight from the original image, so rotation and reframing cost one
    interpolation of the crop's pixels.
    """
    if framing.is_identity and (not align or eye_angle(box) == 0.0):
        return image[box.y : box.y + box.h, box.x : box.x + box.w]
    return warp_crop(image, frame_of(box, framing, align))
