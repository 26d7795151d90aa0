"""service.model_store: resolve, verify and open exported models."""

import json
import shutil
from pathlib import Path

import pytest

from service.model_store import (
    ModelLoadError,
    create_session,
    load_model_card,
    open_model,
    resolve_model_dir,
    version_key,
)


def copy_model(model_dir: Path, store: Path, version: str) -> Path:
    target = store / "fer_cnn" / version
    shutil.copytree(model_dir, target)
    return target


def test_resolve_latest_picks_the_highest_version_with_a_card(model_dir: Path, tmp_path: Path) -> None:
    for version in ("0.0.1", "0.9.0", "0.10.0"):
        copy_model(model_dir, tmp_path, version)
    (tmp_path / "fer_cnn" / "2.0.0").mkdir()  # an export still being written: no model.json yet
    assert resolve_model_dir(tmp_path, "fer_cnn", "latest").name == "0.10.0"


def test_resolve_explicit_version_returns_that_folder(model_dir: Path, tmp_path: Path) -> None:
    copy_model(model_dir, tmp_path, "0.0.1")
    copy_model(model_dir, tmp_path, "0.2.0")
    assert resolve_model_dir(tmp_path, "fer_cnn", "0.0.1").name == "0.0.1"


@pytest.mark.parametrize("version", ["latest", "9.9.9"])
def test_resolve_missing_model_raises_a_clear_error(tmp_path: Path, version: str) -> None:
    with pytest.raises(ModelLoadError, match="fer_cnn"):
        resolve_model_dir(tmp_path, "fer_cnn", version)


def test_version_key_orders_numbers_numerically() -> None:
    assert sorted(["1.10.0", "1.9.0", "0.0.1", "1.0.0"], key=version_key) == ["0.0.1", "1.0.0", "1.9.0", "1.10.0"]


def test_version_key_orders_a_suffixed_variant_below_its_release() -> None:
    versions = ["1.0.0", "1.0.0-int8", "0.9.0", "1.0.1", "1.0.0.1"]
    assert sorted(versions, key=version_key) == ["0.9.0", "1.0.0-int8", "1.0.0", "1.0.0.1", "1.0.1"]


def test_load_model_card_reads_labels_io_and_preprocessing(model_dir: Path) -> None:
    card = load_model_card(model_dir)
    meta = json.loads((model_dir / "model.json").read_text())
    assert card.labels == tuple(meta["labels"]) and len(card.labels) == 7
    assert (card.input_name, card.output_name) == ("face", "probs")
    assert card.preprocessing.size == meta["preprocessing"]["size"]
    assert card.metadata == meta


def test_load_model_card_detects_a_corrupt_onnx_file(model_dir: Path, tmp_path: Path) -> None:
    copy = copy_model(model_dir, tmp_path, "0.0.1")
    onnx = copy / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model_card(copy)


def test_load_model_card_detects_a_missing_onnx_file(model_dir: Path, tmp_path: Path) -> None:
    copy = copy_model(model_dir, tmp_path, "0.0.1")
    (copy / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match="not found"):
        load_model_card(copy)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"name": "fer_cnn"}'])
def test_load_model_card_rejects_a_broken_card(model_dir: Path, tmp_path: Path, content: str) -> None:
    copy = copy_model(model_dir, tmp_path, "0.0.1")
    (copy / "model.json").write_text(content)
    with pytest.raises(ModelLoadError, match="model.json"):
        load_model_card(copy)


def test_create_session_checks_the_input_name_of_the_card(model_dir: Path, tmp_path: Path) -> None:
    copy = copy_model(model_dir, tmp_path, "0.0.1")
    meta = json.loads((copy / "model.json").read_text())
    meta["input"]["name"] = "image"
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="'image'"):
        create_session(load_model_card(copy))


def test_open_model_returns_a_usable_card(model_dir: Path) -> None:
    card = open_model(model_dir.parent.parent, model_dir.parent.name, model_dir.name)
    session = create_session(card, 1, 1)
    assert [i.name for i in session.get_inputs()] == ["face"]


def test_resolve_latest_with_the_int8_variant_picks_the_highest_release_s_int8_folder(
    model_dir: Path, tmp_path: Path
) -> None:
    for version in ("1.1.0", "1.1.0-int8", "1.2.0", "1.2.0-int8", "1.3.0"):
        copy_model(model_dir, tmp_path, version)
    assert resolve_model_dir(tmp_path, "fer_cnn", "latest").name == "1.3.0"  # float: the highest release
    # 1.3.0 has no int8 variant: it is served as it is rather than an older release's variant.
    assert resolve_model_dir(tmp_path, "fer_cnn", "latest", variant="int8").name == "1.3.0"
    shutil.rmtree(tmp_path / "fer_cnn" / "1.3.0")
    assert resolve_model_dir(tmp_path, "fer_cnn", "latest", variant="int8").name == "1.2.0-int8"
    assert resolve_model_dir(tmp_path, "fer_cnn", "1.2.0", variant="int8").name == "1.2.0"  # a pinned version is kept
