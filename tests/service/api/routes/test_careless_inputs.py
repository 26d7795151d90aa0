"""What a careless client gets: each answer names the mistake and what to do instead.

A video sent to /predict, an image far over the pixel limit, a raw body or a wrong field name,
a trailing slash, a path that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def mp4_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 10-frame MP4 (MPEG-4 part 2, as OpenCV writes it)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for shade in range(10):
        writer.write(np.full((48, 64, 3), 20 * shade, np.uint8))
    writer.release()
    data = path.read_bytes()
    assert data[4:8] == b"ftyp", "OpenCV wrote no MP4"
    return data


def detail_of(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return str(response.json()["detail"])


@pytest.mark.parametrize("content_type", ["video/mp4", "application/octet-stream"])
def test_a_video_sent_to_predict_is_pointed_to_predict_video(
    client: TestClient, mp4_bytes: bytes, content_type: str
) -> None:
    response = client.post("/predict", files={"file": ("clip.mp4", mp4_bytes, content_type)})
    detail = detail_of(response, 415)
    assert "is a video" in detail and "/predict/video" in detail


def test_an_image_over_pillows_own_limit_gets_the_services_pixel_message(
    client: TestClient, make_png_header: Callable[[int, int], bytes]
) -> None:
    response = client.post("/predict", files={"file": ("huge.png", make_png_header(20_000, 20_000))})
    detail = detail_of(response, 413)
    assert detail == "image is 400000000 pixels, more than the 25000000 allowed"


def test_the_pixel_limit_cannot_be_set_above_what_pillow_opens() -> None:
    from PIL import Image
    from pydantic import ValidationError

    from service.settings import PILLOW_REFUSED_PIXELS, Settings

    assert PILLOW_REFUSED_PIXELS == 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(ValidationError):
        Settings(max_pixels=PILLOW_REFUSED_PIXELS + 1)


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"content": b"raw image bytes", "headers": {"content-type": "image/jpeg"}},
        {"files": {"image": ("a.png", b"\x89PNG")}},
    ],
    ids=["raw body", "wrong field name"],
)
def test_a_missing_upload_field_says_to_send_multipart_form_data(client: TestClient, request_kwargs: dict) -> None:
    detail = detail_of(client.post("/predict", **request_kwargs), 422)
    assert "multipart form data in the field `file`" in detail
    assert "curl -F file=@photo.jpg http://testserver/predict" in detail


def test_a_batch_without_files_says_to_send_each_in_the_files_field(client: TestClient) -> None:
    detail = detail_of(client.post("/predict/batch", files={"file": ("a.png", b"x")}), 422)
    assert "each in a field named `files`" in detail


def test_a_video_upload_without_the_field_names_the_video_example(client: TestClient) -> None:
    detail = detail_of(client.post("/predict/video", content=b"x", headers={"content-type": "video/mp4"}), 422)
    assert "send the video as multipart form data in the field `file`" in detail and "clip.mp4" in detail


def test_predict_with_a_trailing_slash_answers_like_predict(client: TestClient, astronaut_path: Path) -> None:
    upload = {"file": ("astronaut.png", astronaut_path.read_bytes())}
    response = client.post("/predict/", files=upload, follow_redirects=False)
    assert response.status_code == 200, response.text
    faces = response.json()["faces"]
    assert len(faces) == 1 and faces[0]["emotion"] == "happy"


def test_an_unknown_path_gets_a_json_404_that_points_to_the_docs(client: TestClient) -> None:
    detail = detail_of(client.post("/predictions", files={"file": ("a.png", b"x")}), 404)
    assert detail == "no such path: /predictions; the API's paths are listed at /docs"
