"""Find, verify and open an exported model: ``<store>/<name>/<version>/{model.json,model.onnx}``.

``model.json`` (written by ``training.export``) is the source of truth for the labels, the
input/output names and the preprocessing parameters; the service hard-codes none of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from service.preprocessing import PreprocessConfig

CARD_FILE = "model.json"
# Card entries about the machine that trained or exported a model: nobody else's business.
HOST_KEYS = frozenset({"host", "hostname", "machine", "cpu_count", "platform", "node"})
REQUIRED_KEYS = ("name", "version", "labels", "input", "output", "preprocessing", "onnx")


class ModelLoadError(RuntimeError):
    """The configured model is missing, corrupt or does not match its card."""


@dataclass(frozen=True)
class ModelCard:
    """The parts of model.json the service relies on, plus the whole card for /v1/models."""

    name: str
    version: str
    labels: tuple[str, ...]
    input_name: str
    output_name: str
    preprocessing: PreprocessConfig
    onnx_path: Path
    sha256: str
    metadata: dict[str, Any]

    @property
    def public_metadata(self) -> dict[str, Any]:
        """The card as clients see it: without host details or local file paths."""
        public = _without_host_details(self.metadata)
        assert isinstance(public, dict)
        return public


def _without_host_details(value: Any) -> Any:
    """Drop host keys and strings that name a file path (anything with a slash), at any depth."""
    if isinstance(value, dict):
        kept = {k: _without_host_details(v) for k, v in value.items() if k not in HOST_KEYS}
        return {k: v for k, v in kept.items() if v is not _DROPPED}
    if isinstance(value, list):
        return [item for item in map(_without_host_details, value) if item is not _DROPPED]
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return _DROPPED
    return value


_DROPPED = object()


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key: 1.10.0 > 1.9.0 > 1.0.0 > 1.0.0-rc1 > 0.0.1 (numbers compare as numbers).

    As in semver, a suffix (``-rc1``, ``-int8``) marks a pre-release or variant that sorts below
    the plain release, so "latest" never serves e.g. a quantized variant instead of its release.
    """
    parts = re.split(r"[.\-+]", version)
    # Kinds: 0 a word, 1 the end of the version, 2 a number; so "1.0.0" (end) beats "1.0.0-int8" (word).
    return (*((2, int(p)) if p.isdigit() else (0, p) for p in parts), (1, ""))


def resolve_model_dir(store: Path, name: str, version: str, variant: str = "float") -> Path:
    """The folder of ``name``/``version``; "latest" picks the highest version that has a card.

    With ``variant="int8"``, "latest" picks that release's ``<version>-int8`` folder instead when it
    has a card (a quantized variant sorts below its release, so the highest version is the release).
    """
    model_root = store / name
    if version != "latest":
        folder = model_root / version
        if not (folder / CARD_FILE).is_file():
            raise ModelLoadError(f"model {name} {version}: {folder / CARD_FILE} not found")
        return folder
    versions = [d for d in model_root.glob("*") if (d / CARD_FILE).is_file()] if model_root.is_dir() else []
    if not versions:
        raise ModelLoadError(f"model {name}: no version with {CARD_FILE} under {model_root}")
    highest = max(versions, key=lambda d: version_key(d.name))
    preferred = model_root / f"{highest.name}-{variant}"
    return preferred if variant != "float" and (preferred / CARD_FILE).is_file() else highest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_card_json(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: unreadable model card ({exc})") from exc
    if not isinstance(card, dict):
        raise ModelLoadError(f"{path}: model card is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in card]
    if missing:
        raise ModelLoadError(f"{path}: model card lacks {', '.join(missing)}")
    return card


def load_model_card(model_dir: Path) -> ModelCard:
    """Read and validate model.json and check the ONNX file against its sha256."""
    card_path = model_dir / CARD_FILE
    card = _read_card_json(card_path)
    try:
        onnx_path = model_dir / card["onnx"]["file"]
        expected_sha = card["onnx"]["sha256"]
        labels = tuple(str(label) for label in card["labels"])
        model = ModelCard(
            name=str(card["name"]),
            version=str(card["version"]),
            labels=labels,
            input_name=str(card["input"]["name"]),
            output_name=str(card["output"]["name"]),
            preprocessing=PreprocessConfig.from_dict(card["preprocessing"]),
            onnx_path=onnx_path,
            sha256=str(expected_sha),
            metadata=card,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{card_path}: malformed model card ({exc!r})") from exc
    _verify_onnx_file(model)
    return model


def _verify_onnx_file(model: ModelCard) -> None:
    if not model.onnx_path.is_file():
        raise ModelLoadError(f"model {model.name} {model.version}: {model.onnx_path} not found")
    actual = sha256_of(model.onnx_path)
    if actual != model.sha256:
        raise ModelLoadError(
            f"{model.onnx_path}: sha256 {actual[:12]}... does not match model.json ({model.sha256[:12]}...);"
            " the file is corrupt or belongs to another export"
        )


def cpu_session(path: Path, intra_op_threads: int = 0, inter_op_threads: int = 0) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU with the given thread counts (0: ONNX Runtime's choice)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def create_session(model: ModelCard, intra_op_threads: int = 0, inter_op_threads: int = 0) -> ort.InferenceSession:
    """Open the ONNX file on the CPU and check it has the input and output the card promises."""
    try:
        session = cpu_session(model.onnx_path, intra_op_threads, inter_op_threads)
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
        raise ModelLoadError(f"{model.onnx_path}: ONNX Runtime cannot load it ({exc})") from exc
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if model.input_name not in inputs or model.output_name not in outputs:
        raise ModelLoadError(
            f"{model.onnx_path}: graph has inputs {inputs} and outputs {outputs}, "
            f"model.json expects {model.input_name!r} -> {model.output_name!r}"
        )
    return session


def open_model(store: Path, name: str, version: str, variant: str = "float") -> ModelCard:
    """Resolve and verify a model; raises :class:`ModelLoadError` with a one-line reason."""
    return load_model_card(resolve_model_dir(store, name, version, variant))
