"""GET /v1/models: the served model's card, without host details or local paths."""

import json
from pathlib import Path

from fastapi.testclient import TestClient


def test_list_models_returns_the_model_card(client: TestClient, model_dir: Path) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    [model] = response.json()["models"]
    card = json.loads((model_dir / "model.json").read_text())
    for key in ("name", "version", "labels", "input", "output", "preprocessing", "metrics"):
        assert model[key] == card[key], key
    assert model["training"]["config"]["widths"] == card["training"]["config"]["widths"]


def test_list_models_hides_host_details_and_local_paths(client: TestClient, model_dir: Path) -> None:
    card_text = (model_dir / "model.json").read_text()
    assert "Linux-" in card_text and "data/raw/fer2013" in card_text  # the card itself has both
    served = json.dumps(client.get("/v1/models").json())
    assert "Linux-" not in served and '"host"' not in served and '"machine"' not in served
    assert "/" not in served and "\\\\" not in served  # no path of the build host, relative or absolute
