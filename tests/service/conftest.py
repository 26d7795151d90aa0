"""Fixtures for the service tests: the committed model, real photos, apps, clients and live servers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.faces.blazeface import BlazeFaceDetector
from service.faces.detector import Box
from service.faces.haar import HaarConfig, HaarDetector
from service.faces.loading import load_blazeface
from service.inference import EmotionRecognizer
from service.loading import load_model
from service.model_store import resolve_model_dir
from service.settings import Settings
from tests.support.live_server import serve_in_thread
from tests.support.synthetic import Layout, write_planted_clip

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_STORE = REPO_ROOT / "model_store"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
PHOTOS = FIXTURES / "photos"
FER_SAMPLE = FIXTURES / "fer2013"

MakeSettings = Callable[..., Settings]
LiveServer = Callable[[Settings], AbstractContextManager[tuple[str, FastAPI]]]


@pytest.fixture(autouse=True)
def _isolate_from_fer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the tests, never from FER_* variables of the shell running them."""
    for name in [n for n in os.environ if n.startswith("FER_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The committed folder the service serves by default (fer_cnn_snap 1.0.0-int8 now: latest, int8 variant)."""
    defaults = {name: Settings.model_fields[f"model_{name}"].default for name in ("name", "variant")}
    return resolve_model_dir(MODEL_STORE, defaults["name"], "latest", defaults["variant"])


@pytest.fixture(scope="session")
def make_settings() -> MakeSettings:
    """Settings for the committed model with one ONNX Runtime thread (training shares the CPU)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"model_store": MODEL_STORE, "ort_intra_op_threads": 1, "ort_inter_op_threads": 1}
        return Settings(**{**values, **overrides})

    return make


@pytest.fixture(scope="session")
def client(make_settings: MakeSettings) -> Iterator[TestClient]:
    """One started app shared by the tests that only need default settings."""
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def make_client(make_settings: MakeSettings) -> Callable[..., AbstractContextManager[TestClient]]:
    """``with make_client(max_queue=1) as client:`` — a started app with other settings."""

    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        with TestClient(create_app(make_settings(**overrides))) as test_client:
            yield test_client

    return make


@pytest.fixture(scope="session")
def live_server() -> LiveServer:
    """``with live_server(settings) as (base_url, app):`` — real uvicorn on a free port, in a thread."""
    return serve_in_thread


@pytest.fixture(scope="session")
def recognizer(make_settings: MakeSettings) -> EmotionRecognizer:
    """The inference class on the committed model, without any HTTP."""
    loaded = load_model(make_settings())
    return loaded.recognizer()


@pytest.fixture(scope="session")
def detector() -> HaarDetector:
    return HaarDetector(HaarConfig())


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    """384x384 RGB photo with one face at about x=133 y=50 w=71 h=71."""
    return PHOTOS / "astronaut.png"


@pytest.fixture(scope="session")
def chelsea_path() -> Path:
    """A cat: no human face for the Haar cascade."""
    return PHOTOS / "chelsea.png"


@pytest.fixture(scope="session")
def fer_test_faces() -> list[Path]:
    """FER-2013 PublicTest/PrivateTest faces (48x48 grayscale JPEGs), sorted."""
    faces = sorted(FER_SAMPLE.glob("test/*/*Test_*.jpg"))
    assert faces, f"no FER-2013 sample under {FER_SAMPLE}"
    return faces


@pytest.fixture(scope="session")
def multi_face_image(fer_test_faces: list[Path], detector: HaarDetector) -> tuple[bytes, list[Box]]:
    """PNG of 3 FER faces upscaled to 160 px on a gray canvas, and the true box of each face.

    Not every FER face is found by the Haar cascade once upscaled, so the first faces that are
    found together are used (deterministic: the sample is sorted). Every check uses the final
    3-slot canvas, empty slots blank, so faces are searched at the scale of the final image.
    """
    size, margin, slots = 160, 40, 3
    chosen: list[np.ndarray] = []
    for face in map(_upscaled_face, fer_test_faces):
        candidate = [*chosen, face]
        canvas, boxes = _compose(candidate, size, margin, slots)
        if _all_found(detector.detect(canvas), boxes):
            chosen = candidate
        if len(chosen) == slots:
            return cv2.imencode(".png", canvas)[1].tobytes(), boxes
    raise AssertionError("fewer than 3 FER sample faces are found by the Haar cascade")


def _upscaled_face(path: Path) -> np.ndarray:
    return cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (160, 160), interpolation=cv2.INTER_CUBIC)


def _compose(faces: list[np.ndarray], size: int, margin: int, slots: int) -> tuple[np.ndarray, list[Box]]:
    canvas = np.full((size + 2 * margin, slots * (size + margin) + margin), 128, np.uint8)
    boxes = []
    for i, face in enumerate(faces):
        x = margin + i * (size + margin)
        canvas[margin : margin + size, x : x + size] = face
        boxes.append(Box(x, margin, size, size))
    return canvas, boxes


def _all_found(found: list[Box], truth: list[Box]) -> bool:
    return len(found) == len(truth) and all(any(t.iou(f) > 0.3 for f in found) for t in truth)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but that carries almost no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def make_png_header() -> Callable[[int, int], bytes]:
    return png_header_only


# A planted video: the left person's expressions change in a known order, the right person's stay.
PLANTED = ("happy", "surprise", "angry")
STEADY = "neutral"
SCENE_FRAMES = 8


@dataclass(frozen=True)
class PlantedClip:
    """An MP4 of len(PLANTED) scenes of SCENE_FRAMES frames (10 fps, 320x160): left face PLANTED[k] in scene k."""

    path: Path
    layout: Layout
    labels: tuple[str, ...] = PLANTED
    steady: str = STEADY
    scene_frames: int = SCENE_FRAMES


def sample_faces(labels: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
    """The committed FER-2013 test faces of each label, sorted by file name."""
    faces = {}
    for label in labels:
        paths = sorted(FER_SAMPLE.glob(f"test/{label}/*Test_*.jpg"))
        assert paths, f"no FER-2013 sample faces for {label} under {FER_SAMPLE}"
        faces[label] = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    return faces


@pytest.fixture(scope="session")
def planted_clip(recognizer: EmotionRecognizer, tmp_path_factory: pytest.TempPathFactory) -> PlantedClip:
    """Sample faces the committed model finds and classifies confidently (>= 0.7) in every frame of their scene."""
    path = tmp_path_factory.mktemp("video") / "planted.mp4"
    try:
        write_planted_clip(path, recognizer, sample_faces((*PLANTED, STEADY)), PLANTED, STEADY, Layout(), SCENE_FRAMES)
    except LookupError as exc:
        pytest.fail(f"cannot plant the test clip: {exc}")
    return PlantedClip(path, Layout())


PlantedCheck = Callable[[list[dict[str, Any]]], None]


@pytest.fixture(scope="session")
def assert_follows_planted(planted_clip: PlantedClip) -> PlantedCheck:
    """Check timeline rows (dicts with frame, track_id, x, w, emotion) against the planted clip.

    One track per person whatever the frame; in each scene the left person's rows carry the
    planted emotion (3 in 4 at least: video compression may cost a detection), the right
    person's the steady one.
    """

    def check(rows: list[dict[str, Any]]) -> None:
        column = planted_clip.layout.width // 2
        left = [r for r in rows if (int(r["x"]) + int(r["w"]) // 2) < column]
        right = [r for r in rows if (int(r["x"]) + int(r["w"]) // 2) >= column]
        left_ids, right_ids = {int(r["track_id"]) for r in left}, {int(r["track_id"]) for r in right}
        assert len(left_ids) == 1 and len(right_ids) == 1 and left_ids != right_ids, (left_ids, right_ids)
        sampled = {int(r["frame"]) for r in rows}
        for k, label in enumerate(planted_clip.labels):
            scene = range(k * planted_clip.scene_frames, (k + 1) * planted_clip.scene_frames)
            emotions = [r["emotion"] for r in left if int(r["frame"]) in scene]
            frames = len(sampled & set(scene))
            assert frames and emotions.count(label) >= 0.75 * frames, f"scene {k}: planted {label}, got {emotions}"
        steady = [r["emotion"] for r in right]
        assert steady.count(planted_clip.steady) >= 0.75 * len(sampled), steady

    return check


@pytest.fixture(scope="session")
def blazeface(make_settings: MakeSettings) -> BlazeFaceDetector:
    """The committed BlazeFace detector (short range) with the service's default settings."""
    return load_blazeface(make_settings())


@pytest.fixture(scope="session")
def astronaut_gray(astronaut_path: Path) -> np.ndarray:
    gray = cv2.imread(str(astronaut_path), cv2.IMREAD_GRAYSCALE)
    assert gray is not None, f"cannot read {astronaut_path}"
    return gray
