"""GET / (the demo page), /static, and the OpenAPI docs."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.routes import pages
from service.api.routes.pages import INDEX_FILE


def test_read_index_serves_the_demo_page(client: TestClient) -> None:
    assert INDEX_FILE.is_file(), f"the demo page {INDEX_FILE} is part of the package"
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.text == INDEX_FILE.read_text()


def test_read_index_points_to_the_docs_when_the_page_is_absent(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pages, "INDEX_FILE", tmp_path / "missing.html")
    response = client.get("/")
    assert response.status_code == 200 and "/docs" in response.text


def test_static_files_are_served(client: TestClient) -> None:
    response = client.get("/static/index.html")
    assert response.status_code == 200
    assert response.text == INDEX_FILE.read_text()


def test_openapi_documents_every_endpoint_with_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/healthz", "/readyz", "/v1/models", "/metrics"} <= set(schema["paths"])
    face = schema["components"]["schemas"]["FaceOut"]
    assert face["properties"]["probabilities"]["examples"]
    predict = schema["paths"]["/predict"]["post"]
    assert {"400", "413", "415", "422", "503"} <= set(predict["responses"])
