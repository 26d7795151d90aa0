"""GET / (the demo page), /static, and the OpenAPI docs."""

from fastapi.testclient import TestClient

from service.api.routes.pages import INDEX_FILE


def test_read_index_serves_the_demo_page_or_a_pointer_to_the_docs(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    if INDEX_FILE.is_file():
        assert response.text == INDEX_FILE.read_text()
    else:
        assert "/docs" in response.text


def test_static_files_are_served_when_installed(client: TestClient) -> None:
    if not INDEX_FILE.is_file():
        return
    assert client.get("/static/index.html").status_code == 200


def test_openapi_documents_every_endpoint_with_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/healthz", "/readyz", "/v1/models", "/metrics"} <= set(schema["paths"])
    face = schema["components"]["schemas"]["FaceOut"]
    assert face["properties"]["probabilities"]["examples"]
    predict = schema["paths"]["/predict"]["post"]
    assert {"400", "413", "415", "422", "503"} <= set(predict["responses"])
