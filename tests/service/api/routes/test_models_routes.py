"""GET /v1/models: the served model's card."""

import json
from pathlib import Path

from fastapi.testclient import TestClient


def test_list_models_returns_the_model_card(client: TestClient, model_dir: Path) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    [model] = response.json()["models"]
    assert model == json.loads((model_dir / "model.json").read_text())
    assert len(model["labels"]) == 7 and model["input"]["name"] == "face"
