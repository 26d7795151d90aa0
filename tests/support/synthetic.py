"""Clips with known expressions: face images pasted into frames in a planned order.

The tests plant FER-2013 faces that the committed model classifies confidently and check that
the timeline follows them; the timeline plot of docs/video.md is a run on such a clip. Each person has
a column of the frame; faces sway a few pixels from frame to frame, so tracking has motion to
follow.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from service.inference import EmotionRecognizer
from service.loading import load_model
from service.settings import Settings
from service.video.writer import open_writer

BACKGROUND = 128  # mid-gray: no edges for the face detector to take for a face
SWAY_PX = 4


@dataclass(frozen=True)
class Layout:
    width: int = 320
    height: int = 160
    face_side: int = 128  # FER-2013's 48 px faces, upscaled
    fps: float = 10.0


@dataclass(frozen=True)
class Scene:
    """``frames`` frames showing one grayscale face per person (column), left to right; None leaves a column empty."""

    faces: Sequence[np.ndarray | None]
    frames: int


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """Write BGR frames (all one size) as a video; the codec follows the suffix."""
    height, width = frames[0].shape[:2]
    writer = open_writer(path, fps, width, height)
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def compose_frame(faces: Sequence[np.ndarray | None], layout: Layout, sway: int = 0) -> np.ndarray:
    """A BGR frame with each face scaled to the layout's side, centred in its column and shifted by ``sway``."""
    canvas = np.full((layout.height, layout.width), BACKGROUND, np.uint8)
    column = layout.width // len(faces)
    side = layout.face_side
    if column < side + 2 * SWAY_PX or layout.height < side:
        raise ValueError(f"{len(faces)} faces of {side} px do not fit a {layout.width}x{layout.height} frame")
    for i, face in enumerate(faces):
        if face is not None:
            x, y = i * column + (column - side) // 2 + sway, (layout.height - side) // 2
            canvas[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


def scene_frames(scene: Scene, layout: Layout) -> list[np.ndarray]:
    return [compose_frame(scene.faces, layout, round(SWAY_PX * math.sin(i / 2))) for i in range(scene.frames)]


def write_clip(path: Path, scenes: Sequence[Scene], layout: Layout | None = None) -> Path:
    """Write the scenes one after another (codec by suffix: .mp4, .webm, .avi)."""
    layout = layout or Layout()
    return write_video(path, [frame for scene in scenes for frame in scene_frames(scene, layout)], layout.fps)


def plantable(
    recognizer: EmotionRecognizer, scene: Scene, column: int, label: str, layout: Layout, min_confidence: float
) -> bool:
    """Whether, in every frame of ``scene``, the model finds one face per person and calls the face in
    ``column`` ``label`` with at least ``min_confidence``."""
    people = sum(face is not None for face in scene.faces)
    width = layout.width // len(scene.faces)
    for frame in scene_frames(scene, layout):
        faces = recognizer.predict(frame)
        mine = [f for f in faces if (f.box.x + f.box.w // 2) // width == column]
        if len(faces) != people or len(mine) != 1 or mine[0].emotion != label or mine[0].confidence < min_confidence:
            return False
    return True


def first_plantable(
    recognizer: EmotionRecognizer,
    candidates: Iterable[np.ndarray],
    others: Sequence[np.ndarray | None],
    column: int,
    label: str,
    layout: Layout,
    frames: int = 8,
    min_confidence: float = 0.7,
) -> np.ndarray | None:
    """The first candidate face that is :func:`plantable` in ``column`` beside the ``others``."""
    for face in candidates:
        faces = [*others[:column], face, *others[column + 1 :]]
        if plantable(recognizer, Scene(faces, frames), column, label, layout, min_confidence):
            return face
    return None


def write_planted_clip(
    path: Path,
    recognizer: EmotionRecognizer,
    candidates: Mapping[str, Sequence[np.ndarray]],
    planted: Sequence[str],
    steady: str,
    layout: Layout | None = None,
    scene_frames: int = 8,
) -> Path:
    """Two people: the left one shows ``planted`` expressions in order, one scene each; the right one
    keeps ``steady``. Faces are the first candidates of each label that are :func:`plantable`;
    LookupError names a label none of whose candidates is."""
    layout = layout or Layout()
    right = first_plantable(recognizer, candidates[steady], [None, None], 1, steady, layout, scene_frames)
    if right is None:
        raise LookupError(f"no {steady} face is found and classified confidently")
    scenes = []
    for label in planted:
        left = first_plantable(recognizer, candidates[label], [None, right], 0, label, layout, scene_frames)
        if left is None:
            raise LookupError(f"no {label} face is found and classified confidently beside the {steady} one")
        scenes.append(Scene([left, right], scene_frames))
    return write_clip(path, scenes, layout)


def load_faces(folder: Path, labels: Iterable[str]) -> dict[str, list[np.ndarray]]:
    """Grayscale faces from ``folder/<label>/*`` (the FER-2013 image-folder layout), sorted by name."""
    faces = {}
    for label in labels:
        images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted((folder / label).glob("*.jpg"))]
        faces[label] = [image for image in images if image is not None]
    return faces


def main(argv: list[str] | None = None) -> None:
    """python -m tests.support.synthetic OUT.mp4: the demo clip of docs/video.md from the committed FER-2013 sample."""
    parser = argparse.ArgumentParser(description="Write a clip of FER-2013 faces with planted expressions.")
    parser.add_argument("out", type=Path, help="the clip to write (.mp4, .webm or .avi)")
    parser.add_argument("--faces", type=Path, default=Path("tests/fixtures/fer2013/test"), help="<label>/*.jpg")
    parser.add_argument("--planted", default="happy,surprise,fear,angry", help="the left face's expressions in order")
    parser.add_argument("--steady", default="neutral", help="the right face's expression throughout")
    parser.add_argument("--scene-frames", type=int, default=20, help="frames per expression (10 fps)")
    args = parser.parse_args(argv)
    planted = args.planted.split(",")
    loaded = load_model(Settings())
    recognizer = loaded.recognizer()
    faces = load_faces(args.faces, [*planted, args.steady])
    try:
        write_planted_clip(args.out, recognizer, faces, planted, args.steady, Layout(), args.scene_frames)
    except LookupError as exc:
        raise SystemExit(f"error: {exc} (in {args.faces})") from exc
    print(f"wrote {args.out}: {len(planted)} scenes of {args.scene_frames} frames, left {'/'.join(planted)}")


if __name__ == "__main__":
    main()
