"""GET /metrics: the Prometheus names the dashboard relies on, moving with traffic."""

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

METRIC_NAMES = {
    "fer_requests": "counter",
    "fer_request_duration_seconds": "histogram",
    "fer_faces_detected": "counter",
    "fer_predictions": "counter",
    "fer_inference_batch_size": "histogram",
    "fer_inference_duration_seconds": "histogram",
    "fer_queue_wait_seconds": "histogram",
    "fer_queue_depth": "gauge",
    "fer_open_streams": "gauge",
    "fer_stream_frames": "counter",
    "fer_stream_frames_dropped": "counter",
    "fer_model_info": "gauge",
}


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(all_samples: dict, metric: str, **labels: str) -> float:
    return all_samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def test_read_metrics_exposes_every_dashboard_metric(client: TestClient) -> None:
    response = client.get("/metrics")
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    for name, kind in METRIC_NAMES.items():
        assert families.get(name) == kind, name
    assert 'fer_inference_batch_size_bucket{le="128.0"}' in response.text


def test_read_metrics_reports_the_model_info(client: TestClient) -> None:
    version = client.get("/v1/models").json()["models"][0]["version"]
    assert value(samples(client), "fer_model_info", name="fer_cnn_snap", version=version) == 1.0


def test_read_metrics_moves_after_requests(client: TestClient, astronaut_path: Path) -> None:
    before = samples(client)
    response = client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())})
    client.post("/predict", files={"file": ("a.gif", b"GIF89a")})
    emotion = response.json()["faces"][0]["emotion"]
    after = samples(client)

    def delta(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert delta("fer_requests_total", endpoint="/predict", status="200") == 1
    assert delta("fer_requests_total", endpoint="/predict", status="415") == 1
    assert delta("fer_request_duration_seconds_count", endpoint="/predict") == 2
    assert delta("fer_faces_detected_total") == 1
    assert delta("fer_predictions_total", emotion=emotion) == 1
    assert delta("fer_inference_batch_size_count") == 1
    assert delta("fer_inference_duration_seconds_count") == 1
    assert delta("fer_queue_wait_seconds_count") == 1


def test_read_metrics_counts_stream_frames(client: TestClient, astronaut_path: Path) -> None:
    before = samples(client)
    with client.websocket_connect("/stream") as ws:
        for _ in range(5):
            ws.send_bytes(astronaut_path.read_bytes())
        while ws.receive_json()["frame_id"] < 5:
            pass
        assert value(samples(client), "fer_open_streams") == 1
    after = samples(client)
    assert value(after, "fer_stream_frames_total") - value(before, "fer_stream_frames_total") == 5
    dropped = value(after, "fer_stream_frames_dropped_total") - value(before, "fer_stream_frames_dropped_total")
    assert 0 <= dropped < 5
    assert value(after, "fer_open_streams") == 0


def test_read_metrics_has_no_created_series(client: TestClient, astronaut_path: Path) -> None:
    client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())})
    text = client.get("/metrics").text
    assert "fer_requests_total{" in text
    assert "_created" not in text


def test_read_metrics_counts_a_declared_oversized_body_under_its_endpoint(make_client, astronaut_path: Path) -> None:
    with make_client(max_body_bytes=50_000) as small:
        before = samples(small)
        assert small.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())}).status_code == 413
        after = samples(small)
    labels = {"endpoint": "/predict", "status": "413"}
    assert value(after, "fer_requests_total", **labels) - value(before, "fer_requests_total", **labels) == 1
    assert value(after, "fer_requests_total", endpoint="unmatched", status="413") == 0
