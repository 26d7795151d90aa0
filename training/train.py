"""Stage 2: train the CNN on the Training split, select on PublicTest.

    python -m training.train --name fer_cnn --epochs 30

Outputs in runs/<name>/: config.json, best.weights.h5 (best PublicTest accuracy),
last.weights.h5, history.csv, curves.png, TensorBoard logs in tb/, and after every epoch a checkpoint
(training.checkpoint) in runs/<name>/checkpoint/ or <checkpoint_dir>/<name>/. After an interruption,
here or on another machine:

    python -m training.train --resume results/checkpoints/<name>
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np

from service.preprocessing import PreprocessConfig, to_model_input
from training.callbacks import PerClassValidation, plot_curves, tensorflow_backend
from training.checkpoint import (
    CHECKPOINT_FILE,
    Checkpointing,
    EpochBatches,
    read_state,
    restore_checkpoint,
    resumable_state,
    start_weights,
)
from training.config import TrainConfig, bf16_is_faster, parse_args
from training.distill import DistillationLoss, accuracy_metric, kd_targets, load_teacher
from training.host import cpu_model
from training.labels import LABELS
from training.model import build_model, build_training_model
from training.pairing import PairedBatches, Partners, build_paired_model, load_partners, paired_loss_and_metrics
from training.prepare import load_prepared
from training.progress import PROGRESS_FILE, progress_timing
from training.views import TeacherViews, ViewBatches, load_views


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


def load_arrays(cfg: TrainConfig) -> tuple[list[np.ndarray], Partners | TeacherViews | None]:
    """Training and PublicTest arrays as model inputs and targets: one-hot, or with a teacher
    ``[one-hot | tempered teacher probabilities]`` (see training.distill); and the Training faces'
    detector crops for a paired run (training.pairing), or their teacher views for a run on those."""
    splits, meta = load_prepared(cfg.data)
    pre = PreprocessConfig.from_dict(meta["preprocessing"])
    rng = np.random.default_rng(cfg.seed)  # splits are sorted by class: subsample at random
    arrays, extra = [], None
    for split, limit in (("Training", cfg.limit_train), ("PublicTest", cfg.limit_val)):
        x, y = splits[split]
        keep = np.sort(rng.permutation(len(y))[:limit]) if limit else np.arange(len(y))
        targets = np.eye(len(LABELS), dtype=np.float32)[y[keep]]
        if cfg.teacher:
            targets = kd_targets(targets, load_teacher(cfg.teacher, split)[keep], cfg.kd_temperature)
        arrays += [to_model_input(x[keep], pre), y[keep], targets]
        if split == "Training" and cfg.paired_crops:
            extra = load_partners(cfg.paired_crops, y, keep, pre)
        elif split == "Training" and cfg.teacher_views:
            extra = load_views(cfg, y, keep, pre)
    return arrays, extra


def loss_and_metrics(cfg: TrainConfig) -> tuple[keras.losses.Loss, list]:
    """Cross-entropy on the labels, the distillation loss when a teacher is given, or the pair loss."""
    if cfg.consistency and not cfg.paired_crops:
        raise ValueError("--consistency weighs the crops of --paired_crops: give that file too")
    if cfg.paired_crops:
        return paired_loss_and_metrics(cfg)
    if cfg.teacher:
        return DistillationLoss(cfg.kd_temperature, cfg.kd_alpha, cfg.label_smoothing), [accuracy_metric()]
    return keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing), ["accuracy"]


def make_callbacks(cfg: TrainConfig, classifier, x_val, y_val, grad_batch) -> tuple[list, dict]:
    """Keras callbacks, and those of them whose counters a resumed run must get back (by name)."""
    run = cfg.run_dir
    best = keras.callbacks.ModelCheckpoint(
        str(run / "best.weights.h5"), monitor="val_accuracy", mode="max", save_best_only=True, save_weights_only=True
    )
    early = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=cfg.early_stopping_patience)
    callbacks = [
        best,
        keras.callbacks.ModelCheckpoint(str(run / "last.weights.h5"), save_weights_only=True),
        early,
        PerClassValidation(classifier, x_val, y_val, run / "tb", grad_batch if cfg.histograms else None),
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
    ]
    if tensorflow_backend():  # TensorBoard writes through tf.summary
        callbacks.append(keras.callbacks.TensorBoard(str(run / "tb"), histogram_freq=1 if cfg.histograms else 0))
    stateful: dict = {"early_stopping": early, "best": best}
    if cfg.schedule == "plateau":
        plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", mode="max", factor=0.5, patience=3)
        callbacks.append(plateau)
        stateful["plateau"] = plateau
    return callbacks, stateful


def train(cfg: TrainConfig, verbose: int | str = "auto", resume: bool = False, extra_callbacks=()) -> keras.Model:
    """Fit the model described by ``cfg``, or continue it from its checkpoint (``resume``);
    returns the classifier with the best weights loaded. ``extra_callbacks`` join Keras' list
    (a leased machine's deadline: training.gpu)."""
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if cfg.mixed_precision else "float32")
    state = resumable_state(cfg, resume)
    cfg.save(cfg.run_dir / "config.json")
    (xt, yt, yt1, xv, yv, yv1), extra = load_arrays(cfg)
    classifier, model = compiled_models(cfg, math.ceil(len(xt) / cfg.batch_size))
    if state:
        restore_checkpoint(model, cfg.checkpoint_path / CHECKPOINT_FILE)
    elif cfg.init_weights:  # a later stage: new schedule, weights from an earlier run
        start_weights(model, cfg)
    weights = class_weight_dict(yt, cfg.class_weights)
    # Per-sample weights rather than class_weight: with a teacher the targets are not one-hot.
    sample_weight = np.array([weights[c] for c in yt], np.float32) if weights else np.ones(len(yt), np.float32)
    batches, validation = fit_data(cfg, (xt, yt1, sample_weight), (xv, yv1), extra)
    callbacks, stateful = make_callbacks(cfg, classifier, xv, yv, (xt[:64], yt1[:64, : len(LABELS)]))
    callbacks += [Checkpointing(cfg.checkpoint_path, asdict(cfg), batches, stateful, state), *extra_callbacks]
    start_epoch = state["epoch"] if state else 0
    model.fit(
        batches,
        epochs=cfg.epochs,
        initial_epoch=start_epoch,
        validation_data=validation,
        shuffle=False,  # EpochBatches shuffles by (seed, epoch); Keras would add Python's random state
        verbose=verbose,
        callbacks=callbacks,
    )
    finish_run(cfg, model)
    return load_classifier(cfg.run_dir)


def fit_data(cfg: TrainConfig, training: tuple, validation: tuple, extra: Partners | TeacherViews | None) -> tuple:
    """The training batches and the validation data: of single faces or their teacher views (training.views),
    or of pairs (training.pairing), where each PublicTest face is its own partner."""
    if extra is None:
        return EpochBatches(training, cfg.batch_size, cfg.seed), validation
    if isinstance(extra, TeacherViews):
        return ViewBatches(training, extra, cfg.batch_size, cfg.seed), validation
    faces, targets = validation
    return PairedBatches(training, extra, cfg.batch_size, cfg.seed), ({"face": faces, "partner": faces}, targets)


def compiled_models(cfg: TrainConfig, steps_per_epoch: int) -> tuple[keras.Model, keras.Model]:
    """The classifier, and the training model (augmentation + classifier, of pairs in a paired run)
    compiled for fitting."""
    classifier = build_model(cfg)
    model = build_paired_model(classifier, cfg) if cfg.paired_crops else build_training_model(classifier, cfg)
    loss, metrics = loss_and_metrics(cfg)
    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss=loss, metrics=metrics)
    return classifier, model


def finish_run(cfg: TrainConfig, model: keras.Model) -> None:
    """Timing and curves from the progress log, which spans every machine the run was on."""
    if not (cfg.run_dir / "last.weights.h5").is_file():
        # A resume with no epoch left (the run ended on a machine that is gone): its checkpoint holds the last weights.
        model.save_weights(str(cfg.run_dir / "last.weights.h5"))
    timing = progress_timing(cfg.checkpoint_path)
    print(f"training took {timing['wall_time_s']} s over {timing['epochs']} epochs", flush=True)
    facts = host_facts(timing["wall_time_s"]) | {"hosts": timing["hosts"]}
    (cfg.run_dir / "timing.json").write_text(json.dumps(facts, indent=2) + "\n")
    plot_curves(cfg.checkpoint_path / PROGRESS_FILE, cfg.run_dir / "curves.png")


def host_facts(seconds: float) -> dict:
    """Wall time and hardware of a run, for the model card: the backend by name, with its version
    under that name ("tensorflow": "2.21.0", or "jax": "0.11.2" on a GPU machine)."""
    backend = keras.backend.backend()
    return {
        "wall_time_s": round(seconds),
        "cpu_count": os.cpu_count(),
        "machine": cpu_model(),
        "backend": backend,
        backend: importlib.import_module(backend).__version__,
        "keras": keras.__version__,
    }


def load_classifier(run_dir: str | Path, weights: str = "") -> keras.Model:
    """Rebuild a run's classifier in float32 and load the named weights, by default its best
    (its last when no epoch since a resume on this machine beat the best before it)."""
    run_dir = Path(run_dir)
    cfg = TrainConfig.load(run_dir / "config.json")
    weights = weights or ("best.weights.h5" if (run_dir / "best.weights.h5").is_file() else "last.weights.h5")
    keras.mixed_precision.set_global_policy("float32")
    classifier = build_model(cfg)
    model = build_training_model(classifier, cfg)
    model.load_weights(Path(run_dir) / weights)
    return classifier


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--resume"]:
        if len(argv) != 2:
            raise SystemExit("usage: python -m training.train --resume <checkpoint folder> (the run's own config)")
        folder = Path(argv[1])
        # The run continues in the folder it was given, wherever the checkout is, and in the precision
        # measured faster on this host: a run started where bfloat16 is native crawls where it is emulated.
        saved = TrainConfig.from_dict(read_state(folder)["config"])
        cfg = replace(saved, checkpoint_dir=str(folder.parent), mixed_precision=bf16_is_faster())
        if cfg.name != folder.name:
            raise SystemExit(f"{folder} holds run {cfg.name!r}: its folder must keep the run's name")
    else:
        cfg = parse_args(argv)
    print(f"run {cfg.name}: {cfg}", flush=True)
    train(cfg, verbose=1 if sys.stdout.isatty() else 2, resume=argv[:1] == ["--resume"])


if __name__ == "__main__":
    main()
