"""Bad input to /predict gets a clear JSON error with the right status, never a 500."""

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 100, 50)).save(buffer, format=fmt)
    return buffer.getvalue()


def assert_error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


def test_predict_image_without_the_file_field_is_422(client: TestClient, astronaut_path: Path) -> None:
    detail = assert_error(client.post("/predict", files={"image": ("a.png", astronaut_path.read_bytes())}), 422)
    assert "file" in detail


def test_predict_image_with_an_invalid_option_is_422(client: TestClient, astronaut_path: Path) -> None:
    response = client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())}, params={"max_faces": 0})
    assert "max_faces" in assert_error(response, 422)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("random.png", b"\x00\x9f\x13\x88" * 64),
        ("empty.jpg", b""),
        ("truncated.png", None),
        ("truncated.jpg", None),
    ],
)
def test_predict_image_rejects_corrupt_uploads_with_400(
    client: TestClient, astronaut_path: Path, name: str, data: bytes | None
) -> None:
    if data is None:  # the first part of a real image
        fmt = "PNG" if name.endswith(".png") else "JPEG"
        whole = astronaut_path.read_bytes() if fmt == "PNG" else _jpeg_of(astronaut_path)
        data = whole[: len(whole) // 2]
    assert_error(client.post("/predict", files={"file": (name, data)}), 400)


def _jpeg_of(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("anim.gif", image_bytes("GIF"), "image/gif"),
        ("scan.tiff", image_bytes("TIFF"), "image/tiff"),
        ("doc.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "application/pdf"),
        ("notes.txt", b"just some text\n", "text/plain"),
        ("notes.png", b"text pretending to be a png\n", "image/png"),
    ],
)
def test_predict_image_rejects_unsupported_types_with_415(
    client: TestClient, name: str, data: bytes, content_type: str
) -> None:
    assert_error(client.post("/predict", files={"file": (name, data, content_type)}), 415)


def test_predict_image_rejects_too_many_pixels_with_413(
    client: TestClient, make_png_header: Callable[[int, int], bytes]
) -> None:
    detail = assert_error(client.post("/predict", files={"file": ("huge.png", make_png_header(10_000, 10_000))}), 413)
    assert "10000x10000" in detail


def test_predict_image_rejects_a_declared_large_body_with_413(make_client, astronaut_path: Path) -> None:
    with make_client(max_body_bytes=50_000) as client:
        response = client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())})
        assert "50000 bytes" in assert_error(response, 413)
        assert client.get("/healthz").status_code == 200


def test_predict_image_rejects_a_chunked_large_body_with_413(make_client) -> None:
    def chunks():  # a generator body is sent without Content-Length (chunked)
        yield b"--b\r\n"
        for _ in range(10):
            yield b"x" * 10_000

    with make_client(max_body_bytes=50_000) as client:
        headers = {"content-type": "multipart/form-data; boundary=b"}
        assert_error(client.post("/predict", content=chunks(), headers=headers), 413)
        assert client.get("/healthz").status_code == 200


def test_predict_image_keeps_serving_after_bad_input(client: TestClient, astronaut_path: Path) -> None:
    for data in (b"", b"GIF89a", b"\x00" * 100):
        assert client.post("/predict", files={"file": ("x", data)}).status_code < 500
    response = client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())})
    assert response.status_code == 200 and len(response.json()["faces"]) == 1
