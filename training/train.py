"""Stage 2: train the CNN on the Training split, select on PublicTest.

    python -m training.train --name fer_cnn --epochs 30

Outputs in runs/<name>/: config.json, best.weights.h5 (best PublicTest accuracy),
last.weights.h5, history.csv, curves.png, TensorBoard logs in tb/. Re-running the same command resumes
from runs/<name>/backup/ after an interruption.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import keras
import numpy as np

from service.preprocessing import PreprocessConfig, to_model_input
from training.callbacks import PerClassValidation, plot_curves
from training.config import TrainConfig, parse_args
from training.distill import DistillationLoss, accuracy_metric, kd_targets, load_teacher
from training.labels import LABELS
from training.model import build_model, build_training_model
from training.prepare import load_prepared


def class_weight_dict(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """Inverse-frequency class weights ('balanced'), their square root ('sqrt'), or None."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    weights = len(labels) / (len(LABELS) * np.maximum(counts, 1))
    if mode == "sqrt":
        weights = np.sqrt(weights)
    elif mode != "balanced":
        raise ValueError(f"unknown class_weights {mode!r}")
    return {i: float(w) for i, w in enumerate(weights)}


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam or SGD with a warmup + cosine, or constant, learning rate."""
    lr: float | keras.optimizers.schedules.LearningRateSchedule = cfg.lr
    if cfg.schedule == "cosine":
        warmup = int(cfg.warmup_epochs * steps_per_epoch)
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else cfg.lr,
            max(1, cfg.epochs * steps_per_epoch - warmup),
            warmup_target=cfg.lr if warmup else None,
            warmup_steps=warmup,
        )
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=cfg.weight_decay or None)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay or None)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (use 'adam' or 'sgd')")


def load_arrays(cfg: TrainConfig):
    """Training and PublicTest arrays as model inputs and targets: one-hot, or with a teacher
    ``[one-hot | tempered teacher probabilities]`` (see training.distill)."""
    splits, meta = load_prepared(cfg.data)
    pre = PreprocessConfig.from_dict(meta["preprocessing"])
    rng = np.random.default_rng(cfg.seed)  # splits are sorted by class: subsample at random
    arrays = []
    for split, limit in (("Training", cfg.limit_train), ("PublicTest", cfg.limit_val)):
        x, y = splits[split]
        keep = np.sort(rng.permutation(len(y))[:limit]) if limit else np.arange(len(y))
        if split == "Training" and cfg.extra_train:
            x, y, keep = with_extra(x[keep], y[keep], cfg)
        targets = np.eye(len(LABELS), dtype=np.float32)[y[keep]]
        if cfg.teacher:
            targets = kd_targets(targets, load_teacher(cfg.teacher, split)[keep], cfg.kd_temperature)
        arrays += [to_model_input(x[keep], pre), y[keep], targets]
    return arrays


def with_extra(x: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training images with ``cfg.extra_train``'s appended (their labels too), and the indices of all."""
    if cfg.teacher:
        raise ValueError("extra_train has no teacher outputs: use it without --teacher")
    with np.load(cfg.extra_train) as extra:
        x_extra, y_extra = extra["x"], extra["y"]
    if x_extra.shape[1:] != x.shape[1:]:
        raise ValueError(f"{cfg.extra_train}: images {x_extra.shape[1:]}, Training has {x.shape[1:]}")
    print(f"training on {len(y)} Training images and {len(y_extra)} from {cfg.extra_train}", flush=True)
    merged_y = np.concatenate([y, y_extra])
    return np.concatenate([x, x_extra]), merged_y, np.arange(len(merged_y))


def loss_and_metrics(cfg: TrainConfig) -> tuple[keras.losses.Loss, list]:
    """Cross-entropy on the labels, or the distillation loss when a teacher is given."""
    if cfg.teacher:
        return DistillationLoss(cfg.kd_temperature, cfg.kd_alpha, cfg.label_smoothing), [accuracy_metric()]
    return keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing), ["accuracy"]


def make_callbacks(cfg: TrainConfig, classifier, x_val, y_val, grad_batch) -> list:
    run = cfg.run_dir
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(run / "best.weights.h5"),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
        ),
        # The last epoch too: BackupAndRestore deletes its copy when training ends.
        keras.callbacks.ModelCheckpoint(str(run / "last.weights.h5"), save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=cfg.early_stopping_patience),
        PerClassValidation(classifier, x_val, y_val, run / "tb", grad_batch if cfg.histograms else None),
        keras.callbacks.TensorBoard(str(run / "tb"), histogram_freq=1 if cfg.histograms else 0),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
    ]
    if cfg.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=0.5, patience=3))
    return callbacks


def train(cfg: TrainConfig, verbose: int | str = "auto") -> keras.Model:
    """Fit the model described by ``cfg``; returns the classifier with the best weights loaded."""
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if cfg.mixed_precision else "float32")
    cfg.save(cfg.run_dir / "config.json")
    xt, yt, yt1, xv, yv, yv1 = load_arrays(cfg)
    classifier = build_model(cfg)
    model = build_training_model(classifier, cfg)
    if cfg.init_weights:  # a second stage: new schedule, weights from an earlier run
        model.load_weights(cfg.init_weights)
    steps = math.ceil(len(xt) / cfg.batch_size)
    loss, metrics = loss_and_metrics(cfg)
    model.compile(optimizer=make_optimizer(cfg, steps), loss=loss, metrics=metrics)
    weights = class_weight_dict(yt, cfg.class_weights)
    started = time.time()
    model.fit(
        xt,
        yt1,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        validation_data=(xv, yv1),
        # Per-sample weights rather than class_weight: with a teacher the targets are not one-hot.
        sample_weight=np.array([weights[c] for c in yt], np.float32) if weights else None,
        shuffle=True,
        verbose=verbose,
        callbacks=make_callbacks(cfg, classifier, xv, yv, (xt[:64], yt1[:64, : len(LABELS)])),
    )
    seconds = time.time() - started
    print(f"training took {seconds:.0f} s", flush=True)
    (cfg.run_dir / "timing.json").write_text(json.dumps(host_facts(seconds), indent=2) + "\n")
    plot_curves(cfg.run_dir / "history.csv", cfg.run_dir / "curves.png")
    return load_classifier(cfg.run_dir)


def host_facts(seconds: float) -> dict:
    """Wall time and hardware of a run, for the model card."""
    import tensorflow as tf

    return {
        "wall_time_s": round(seconds),
        "cpu_count": os.cpu_count(),
        "machine": cpu_model(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def cpu_model() -> str:
    """The CPU's model name (platform.processor() is often just the architecture)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_classifier(run_dir: str | Path, weights: str = "best.weights.h5") -> keras.Model:
    """Rebuild a run's classifier in float32 and load its best (or other) weights."""
    cfg = TrainConfig.load(Path(run_dir) / "config.json")
    keras.mixed_precision.set_global_policy("float32")
    classifier = build_model(cfg)
    model = build_training_model(classifier, cfg)
    model.load_weights(Path(run_dir) / weights)
    return classifier


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    print(f"run {cfg.name}: {cfg}", flush=True)
    train(cfg, verbose=1 if sys.stdout.isatty() else 2)


if __name__ == "__main__":
    main()
