"""GET /healthz and /readyz."""

from fastapi.testclient import TestClient

from service.app import create_app


def test_read_health_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_read_readiness_reports_the_loaded_model(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["model"]["name"] == "fer_cnn_snap"


def test_read_readiness_is_503_before_the_model_is_loaded(make_settings) -> None:
    app = create_app(make_settings())
    not_started = TestClient(app)  # no ``with``: the lifespan (model loading) never runs
    response = not_started.get("/readyz")
    assert response.status_code == 503 and "not ready" in response.json()["detail"]
    assert not_started.get("/healthz").status_code == 200
    assert not_started.post("/predict", files={"file": ("a.png", b"x")}).status_code == 503
