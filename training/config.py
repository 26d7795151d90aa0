"""Training configuration: one dataclass with commented defaults, CLI overrides, saved per run."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

# The string options' allowed values: a misspelt one ("cosin") must fail, not train differently.
Head = Literal["gap", "flatten"]
Optimizer = Literal["adam", "sgd"]
Schedule = Literal["cosine", "plateau", "constant"]
ClassWeights = Literal["none", "balanced", "sqrt"]
MomentsDtype = Literal["bfloat16", "float32"]

# Options of experiments that shipped nothing (docs/training.md, "Records"): their neutral value and the
# last commit that has their code.
RETIRED_OPTIONS = {"arch": ("vgg", "5ffa68f"), "extra_train": ("", "5ffa68f"), "rep_branches": (False, "7d588e5")}


def bf16_is_faster(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether bfloat16 mixed precision trains faster than float32 on this CPU, as measured on the
    committed network (one epoch of 6,400 images): an AMD EPYC with AVX-512 BF16 took 57 s against
    74 s in float32; an Intel Xeon with AVX-512 BF16 but no AMX 202 s against 142 s, one with AMX
    82 s against 142 s (2026-12-02); an AVX2-only EPYC emulates bfloat16, several times slower.
    AMX is Intel's bfloat16 matrix unit."""
    words = set(cpuinfo.read_text().split()) if cpuinfo.is_file() else set()  # flags and the vendor id
    return "amx_bf16" in words or ("avx512_bf16" in words and "AuthenticAMD" in words)


@dataclass
class TrainConfig:
    """Every knob of a training run; ``runs/<name>/config.json`` records the values used."""

    name: str = "fer_cnn_v1"  # run name: outputs go to runs/<name>/
    data: str = "data/processed/fer2013.npz"  # output of training.prepare
    runs_dir: str = "runs"
    # Model: N blocks of (Conv2D -> BatchNorm -> ReLU) x convs_per_block -> MaxPool -> Dropout (a plain VGG).
    widths: tuple[int, ...] = (64, 128, 256, 512)  # filters per block; len = number of blocks
    convs_per_block: int = 2  # 3x3 convolutions in each block
    block_dropout: float = 0.1  # dropout after each block's pooling
    residual: bool = False  # a projected shortcut around each block's convolutions (ResNet-style)
    bn_momentum: float = 0.99  # BatchNorm moving-average momentum (Keras default); export re-estimates it anyway
    head: Head = "gap"  # "gap" (GlobalAveragePooling) or "flatten"; flatten underfits here
    dense_units: int = 256  # hidden dense layer before softmax; 0 for none
    head_dropout: float = 0.3  # dropout before the softmax layer
    # Optimisation.
    optimizer: Optimizer = "adam"  # "adam" or "sgd" (Nesterov momentum)
    lr: float = 1e-3  # peak learning rate
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.01  # decoupled (AdamW-style) weight decay, scaled by the learning rate
    schedule: Schedule = "cosine"  # "cosine" (with warmup), "plateau" (ReduceLROnPlateau) or "constant"
    warmup_epochs: float = 1.0  # linear warmup before the cosine decay
    epochs: int = 32  # the committed model: ~2 h on 2 CPU cores in bfloat16
    batch_size: int = 128
    label_smoothing: float = 0.1
    class_weights: ClassWeights = "sqrt"  # "none", "balanced" (n / (k * n_c)) or "sqrt" (its square root)
    early_stopping_patience: int = 12  # epochs without val-accuracy gain before stopping
    # Knowledge distillation: soft targets from training.teach (empty: the hard labels only).
    teacher: str = ""  # .npz of a teacher's (or an ensemble's) probabilities for Training and PublicTest
    kd_temperature: float = 4.0  # softens both distributions, so the teacher's "dark knowledge" counts
    kd_alpha: float = 0.7  # weight of the soft loss (scaled by T^2); 1 - alpha goes to the hard labels
    # Train on the teacher's cached augmented views (training.views, made by training.teach --views K) and its
    # outputs on each, instead of augmenting clean faces: the run then adds only its flip (False: as before).
    teacher_views: bool = False
    # Paired training, member 3 (training.pairing): each Training face with one of its detector crops.
    paired_crops: str = ""  # .npz of training.detector_crops (empty: single faces, as every earlier run)
    consistency: float = 0.0  # weight of KL(face's probabilities || its crop's), the face's side held fixed
    # Augmentation (training only; the exported model has none of it).
    flip: bool = True  # horizontal flip
    rotation_deg: float = 10.0
    translate: float = 0.1  # fraction of the image size
    zoom: float = 0.1  # +-fraction
    erase: float = 0.25  # probability of a random erasing patch (0 = off)
    # Runtime.
    # bfloat16 compute where it was measured faster than float32 (see bf16_is_faster); softmax stays float32.
    mixed_precision: bool = field(default_factory=bf16_is_faster)
    init_weights: str = ""  # start from this .weights.h5 (same architecture) instead of random init: fine-tuning
    limit_train: int = 0  # use only the first N training images (0 = all), for quick checks
    limit_val: int = 0  # likewise for PublicTest
    histograms: bool = True  # weight and gradient histograms in TensorBoard
    # Where the end-of-epoch checkpoint goes (training.checkpoint): "" keeps it in runs/<name>/checkpoint/;
    # a run meant to outlive its machine names a tracked folder (results/checkpoints) to commit.
    checkpoint_dir: str = ""
    checkpoint_moments: MomentsDtype = "bfloat16"  # optimizer moments stored in 16 bits (half the bytes)
    seed: int = 42

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint_dir) / self.name if self.checkpoint_dir else self.run_dir / "checkpoint"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A saved config; one saved before an option was retired loads if it left that option at the
        value now built in (the committed checkpoints and model cards record every field)."""
        kept = dict(data)
        for key, (built_in, commit) in RETIRED_OPTIONS.items():
            if key in kept and kept.pop(key) != built_in:
                raise ValueError(f"{key}={data[key]!r}: a retired option (its code is in commit {commit})")
        if "widths" in kept:
            kept["widths"] = tuple(kept["widths"])
        return cls(**kept)


def _parse_value(text: str, default: Any) -> Any:
    if isinstance(default, bool):
        if text.lower() not in {"true", "false", "1", "0"}:
            raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")
        return text.lower() in {"true", "1"}
    if isinstance(default, tuple):
        return tuple(int(v) for v in text.split(","))
    return type(default)(text)


def parse_args(argv: list[str] | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """Build a config from ``--field value`` overrides, e.g. ``--epochs 5 --widths 32,64``."""
    base = base or TrainConfig()
    parser = argparse.ArgumentParser(description="Train a FER-2013 CNN.")
    parser.add_argument("--config", help="start from a saved config.json")
    hints = get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        default = getattr(base, f.name)
        choices = get_args(hints[f.name]) if get_origin(hints[f.name]) is Literal else None
        parser.add_argument(f"--{f.name}", default=None, choices=choices, help=f"default: {default}")
    args = parser.parse_args(argv)
    cfg = TrainConfig.load(args.config) if args.config else base
    for f in fields(TrainConfig):
        raw = getattr(args, f.name)
        if raw is not None:
            setattr(cfg, f.name, _parse_value(raw, getattr(cfg, f.name)))
    return cfg
