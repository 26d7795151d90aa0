"""service.request_ids: X-Request-ID taken from the request or generated, on every response and error body."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.request_ids import is_acceptable_request_id
from service.settings import Settings

GENERATED = re.compile(r"[0-9a-f]{32}")  # asgi-correlation-id's default: a uuid4 in hex


def test_request_id_from_the_client_is_returned(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "checkout-42.retry:1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "checkout-42.retry:1"


def test_request_id_is_generated_when_missing(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert GENERATED.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("unsafe", ["two words", "x" * 129, 'quote"d', "semi;colon"])
def test_request_id_is_replaced_when_unsafe(client: TestClient, unsafe: str) -> None:
    assert not is_acceptable_request_id(unsafe)
    response = client.get("/healthz", headers={"X-Request-ID": unsafe})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])


def assert_error_carries_the_id(response, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    header = response.headers["X-Request-ID"]
    assert response.json()["request_id"] == header and header


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/predict", {"files": {"file": ("x.png", b"\x00\x01 not an image")}}, 400),
        ("post", "/predict", {"files": {"image": ("x.png", b"")}}, 422),
        ("get", "/no/such/route", {}, 404),
        ("put", "/predict", {}, 405),
    ],
)
def test_error_body_carries_the_request_id(
    client: TestClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    assert_error_carries_the_id(getattr(client, method)(path, **kwargs), status)


def test_error_body_of_the_body_limit_carries_the_request_id(make_client) -> None:  # type: ignore[no-untyped-def]
    with make_client(max_body_bytes=1000) as small:
        response = small.post("/predict", files={"file": ("big.png", b"x" * 5000)}, headers={"X-Request-ID": "big-1"})
    assert_error_carries_the_id(response, 413)
    assert response.json()["request_id"] == "big-1"


def test_error_body_of_readiness_carries_the_request_id(model_dir: Path) -> None:
    # No lifespan ran: the model is not loaded and /readyz answers 503.
    response = TestClient(create_app(Settings(model_store=model_dir.parents[1]))).get("/readyz")
    assert_error_carries_the_id(response, 503)


def test_unexpected_error_response_carries_the_request_id(model_dir: Path) -> None:
    """A 500 is sent outside all middleware; its handler adds the header itself."""
    app = create_app(Settings(model_store=model_dir.parents[1]))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    response = TestClient(app, raise_server_exceptions=False).get("/boom", headers={"X-Request-ID": "bug-7"})
    assert_error_carries_the_id(response, 500)
    assert response.headers["X-Request-ID"] == "bug-7"
    assert response.json()["detail"] == "internal server error"
