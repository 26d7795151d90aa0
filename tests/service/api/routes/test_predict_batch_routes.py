"""POST /predict/batch: one result per file, bad files as error entries."""

from pathlib import Path

from fastapi.testclient import TestClient


def test_predict_batch_returns_one_result_per_file_in_order(
    client: TestClient, astronaut_path: Path, chelsea_path: Path
) -> None:
    files = [
        ("files", ("astronaut.png", astronaut_path.read_bytes())),
        ("files", ("anim.gif", b"GIF89a\x01\x00\x01\x00")),
        ("files", ("chelsea.png", chelsea_path.read_bytes())),
        ("files", ("broken.png", astronaut_path.read_bytes()[:2000])),
    ]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["astronaut.png", "anim.gif", "chelsea.png", "broken.png"]
    assert len(results[0]["faces"]) == 1 and results[2]["faces"] == []
    assert set(results[0]) == {"filename", "model", "image", "faces", "timings_ms"}
    assert results[1]["error"]["status"] == 415 and "GIF" in results[1]["error"]["detail"]
    assert results[3]["error"]["status"] == 400


def test_predict_batch_matches_single_predictions(client: TestClient, astronaut_path: Path) -> None:
    single = client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())}).json()
    batch = client.post("/predict/batch", files=[("files", ("a.png", astronaut_path.read_bytes()))]).json()
    assert batch["results"][0]["faces"] == single["faces"]


def test_predict_batch_without_files_is_422(client: TestClient) -> None:
    response = client.post("/predict/batch", data={"other": "x"})
    assert response.status_code == 422
    assert "files" in response.json()["detail"]


def test_predict_batch_refuses_too_many_files(make_client, astronaut_path: Path) -> None:
    with make_client(max_batch_files=2) as client:
        files = [("files", (f"{i}.png", astronaut_path.read_bytes())) for i in range(3)]
        response = client.post("/predict/batch", files=files)
    assert response.status_code == 413
    assert response.json()["detail"] == "more files than the 2 allowed per request"
