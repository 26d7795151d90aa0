"""service.app: create_app builds without side effects; the lifespan loads, or stops startup clearly."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.analysis import ImageAnalyzer
from service.app import create_app
from service.inference import EmotionRecognizer
from service.metrics import Metrics
from service.model_store import ModelLoadError


def test_create_app_loads_nothing_until_started(make_settings, tmp_path: Path) -> None:
    app = create_app(make_settings(model_store=tmp_path / "nowhere"))  # no model there: fine until startup
    assert app.state.ready is False
    assert not hasattr(app.state, "recognizer")


def test_lifespan_puts_the_model_pipeline_on_app_state(make_settings) -> None:
    app = create_app(make_settings(max_batch_size=8))
    with TestClient(app):
        assert app.state.ready is True
        assert isinstance(app.state.recognizer, EmotionRecognizer)
        assert isinstance(app.state.analyzer, ImageAnalyzer)
        assert isinstance(app.state.metrics, Metrics)
        assert app.state.analyzer.batcher.running and app.state.analyzer.batcher.max_batch_size == 8
    assert app.state.ready is False
    assert not app.state.analyzer.batcher.running


def test_create_app_gives_every_app_its_own_metrics(make_settings) -> None:
    first, second = create_app(make_settings()), create_app(make_settings())
    assert first.state.metrics.registry is not second.state.metrics.registry


def test_lifespan_serves_the_highest_version_for_latest(make_settings, model_dir: Path, tmp_path: Path) -> None:
    for version in ("0.0.1", "0.3.0", "0.12.0"):
        shutil.copytree(model_dir, tmp_path / model_dir.parent.name / version)  # the default model's name
    app = create_app(make_settings(model_store=tmp_path))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert app.state.recognizer.model.onnx_path.parent.name == "0.12.0"


def test_lifespan_fails_startup_for_a_missing_model(make_settings, tmp_path: Path) -> None:
    app = create_app(make_settings(model_store=tmp_path))
    with pytest.raises(ModelLoadError, match="no version with model.json"), TestClient(app):
        pass


def test_lifespan_fails_startup_for_a_corrupt_model(make_settings, model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / model_dir.parent.name / "0.0.1"
    shutil.copytree(model_dir, copy)
    (copy / "model.onnx").write_bytes(b"not an onnx graph")
    app = create_app(make_settings(model_store=tmp_path))
    with pytest.raises(ModelLoadError, match="sha256"), TestClient(app):
        pass


def test_service_modules_import_neither_tensorflow_nor_training() -> None:
    """The service installs without TensorFlow: importing every module must not pull it in."""
    code = (
        "import sys, pkgutil, importlib, service\n"
        "for m in pkgutil.walk_packages(service.__path__, 'service.'):\n"
        "    if m.name != 'service.demo_gradio': importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in {'tensorflow', 'keras', 'training'})\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_lifespan_serves_the_int8_variant_by_default_and_the_float_model_by_setting(make_settings) -> None:  # type: ignore[no-untyped-def]
    for variant, version in (("int8", "1.0.0-int8"), ("float", "1.0.0")):
        with TestClient(create_app(make_settings(model_variant=variant))) as client:
            assert client.get("/v1/models").json()["models"][0]["version"] == version
    assert make_settings().model_variant == "int8"
