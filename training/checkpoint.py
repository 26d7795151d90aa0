"""Checkpoints from which a run continues exactly, later and on another machine.

A training machine is reclaimed after a few hours and the next one starts from what was committed,
so a run writes, at the end of every epoch, one folder that holds all it needs to go on:

    checkpoint.npz   model weights (float32), optimizer state (moments in bfloat16 by default, as
                     uint16 bit patterns: half the bytes, float32's range), the random generators'
                     states of augmentation and dropout
    state.json       epochs done, optimizer step, the config, the stateful callbacks' counters
    progress.csv     one row per epoch: loss and accuracy on Training and PublicTest, learning
                     rate, wall seconds, host

The data order is not state: each epoch's permutation is drawn from ``(seed, epoch)``
(``EpochBatches``), so the batches after a resume are those an uninterrupted run would have seen.
An epoch cut short is done again from its start.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
from keras.src.random.seed_generator import SeedGenerator

from training.config import TrainConfig

CHECKPOINT_FILE = "checkpoint.npz"
STATE_FILE = "state.json"
PROGRESS_FILE = "progress.csv"
# host: the device and its compute precision, e.g. "AMD EPYC, bfloat16".
PROGRESS_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds", "host"]
# Counters that EarlyStopping, ModelCheckpoint and ReduceLROnPlateau reset in on_train_begin.
CALLBACK_COUNTERS = ("wait", "best", "cooldown_counter")


def to_bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> the upper 16 bits of the nearest bfloat16 (round half to even)."""
    bits = np.ascontiguousarray(values, np.float32).view(np.uint32).astype(np.uint64)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def from_bfloat16_bits(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def seed_generators(model: keras.Model) -> list[SeedGenerator]:
    """The random generators of every layer (augmentation, dropout), in a fixed order."""
    found = []
    for layer in model._flatten_layers(include_self=False):  # Keras' own recursive walk
        found += [value for _, value in sorted(vars(layer).items()) if isinstance(value, SeedGenerator)]
    return found


def save_checkpoint(model: keras.Model, path: Path, moments: str = "bfloat16") -> None:
    """Weights, optimizer variables and generator states into one .npz, written atomically."""
    arrays = {f"weight_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    for i, variable in enumerate(model.optimizer.variables):
        value = keras.ops.convert_to_numpy(variable)
        packed = moments == "bfloat16" and value.dtype == np.float32 and value.ndim > 0
        arrays[f"optimizer_{i}" + (".bf16" if packed else "")] = to_bfloat16_bits(value) if packed else value
    for i, generator in enumerate(seed_generators(model)):
        arrays[f"seed_{i}"] = keras.ops.convert_to_numpy(generator.state)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)


def _stored(data, prefix: str, count: int) -> list[np.ndarray]:
    names = {name.removesuffix(".bf16"): name for name in data.files if name.startswith(prefix)}
    if len(names) != count:
        raise ValueError(f"checkpoint holds {len(names)} {prefix}* arrays, the model has {count}")
    out = []
    for i in range(count):
        name = names[f"{prefix}{i}"]
        out.append(from_bfloat16_bits(data[name]) if name.endswith(".bf16") else data[name])
    return out


def _assign(variables, values: list[np.ndarray]) -> None:
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{variable.path}: checkpoint shape {value.shape}, model {tuple(variable.shape)}")
        variable.assign(value)


def load_weights_only(model: keras.Model, path: Path) -> None:
    """Only the model weights of a checkpoint: a new stage starting from an earlier run."""
    with np.load(path) as data:
        _assign(model.weights, _stored(data, "weight_", len(model.weights)))


def start_weights(model: keras.Model, cfg: TrainConfig) -> None:
    """A later stage's starting weights: a .weights.h5 file, or an earlier run's checkpoint folder."""
    source = Path(cfg.init_weights)
    if source.is_dir():
        load_weights_only(model, source / CHECKPOINT_FILE)
    else:
        model.load_weights(source)


def restore_checkpoint(model: keras.Model, path: Path) -> None:
    """Everything ``save_checkpoint`` wrote, into a compiled model (its optimizer is built here)."""
    model.optimizer.build(model.trainable_variables)
    generators = seed_generators(model)
    with np.load(path) as data:
        _assign(model.weights, _stored(data, "weight_", len(model.weights)))
        _assign(model.optimizer.variables, _stored(data, "optimizer_", len(model.optimizer.variables)))
        _assign([g.state for g in generators], _stored(data, "seed_", len(generators)))


def read_state(directory: Path) -> dict:
    return json.loads((Path(directory) / STATE_FILE).read_text())


def progress_timing(directory: Path) -> dict:
    """Wall seconds, epochs and hosts of a run, from its progress log (every machine it was on)."""
    progress = read_progress(directory)
    return {
        "wall_time_s": round(sum(float(row["seconds"]) for row in progress)),
        "epochs": len(progress),
        "hosts": sorted({row["host"] for row in progress}),
    }


def read_progress(directory: Path) -> list[dict]:
    path = Path(directory) / PROGRESS_FILE
    if not path.is_file():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def cpu_model() -> str:
    """The CPU's model name (platform.processor() is often just the architecture)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def training_device() -> str:
    """What ran the epochs, for progress.csv's host column: the GPU's name when JAX trains on one
    ("NVIDIA H200"), else the CPU's model."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return str(device.device_kind)
    return cpu_model()


def resumable_state(cfg: TrainConfig, resume: bool) -> dict | None:
    """The saved state to continue from, or None for a new run (which must not overwrite one)."""
    found = (cfg.checkpoint_path / STATE_FILE).is_file()
    if resume and not found:
        raise FileNotFoundError(f"no checkpoint to resume in {cfg.checkpoint_path}")
    if found and not resume:
        raise FileExistsError(
            f"{cfg.checkpoint_path} holds a checkpoint of run {cfg.name!r}: continue it with "
            f"--resume {cfg.checkpoint_path}, or delete that folder to start again"
        )
    if not resume:
        return None
    state = read_state(cfg.checkpoint_path)
    if not (cfg.run_dir / "best.weights.h5").is_file():  # another machine: the best weights so far are gone,
        state["callbacks"].pop("best", None)  # so "best" starts again from the resume
    print(f"resuming {cfg.name} after epoch {state['epoch']} (step {state['step']})", flush=True)
    return state


class EpochBatches(keras.utils.PyDataset):
    """Shuffled batches whose order depends only on ``(seed, epoch)``; ``set_epoch`` picks it."""

    def __init__(self, arrays: tuple[np.ndarray, ...], batch_size: int, seed: int):
        super().__init__()
        self.arrays, self.batch_size, self.seed = arrays, batch_size, seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.arrays[0]))

    def __len__(self) -> int:
        return -(-len(self.arrays[0]) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return tuple(array[rows] for array in self.arrays)


class Checkpointing(keras.callbacks.Callback):
    """Writes the checkpoint folder after every epoch and, on a resume, puts back the data order and
    the counters of the stateful callbacks (list it after them: it restores in on_train_begin)."""

    def __init__(self, directory: Path, config: dict, batches: EpochBatches, stateful: dict, state: dict | None):
        super().__init__()
        self.directory, self.config, self.batches, self.stateful = Path(directory), config, batches, stateful
        self.state = state or {}
        self.moments = self.config.get("checkpoint_moments", "bfloat16")

    def on_train_begin(self, logs=None):
        saved = self.state.get("callbacks", {})
        for key, callback in self.stateful.items():
            for name, value in saved.get(key, {}).items():
                setattr(callback, name, value)

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self.started
        save_checkpoint(self.model, self.directory / CHECKPOINT_FILE, self.moments)
        self._append_progress(epoch, logs or {}, seconds)
        state = {
            "epoch": epoch + 1,
            "step": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "callbacks": {key: self._counters(callback) for key, callback in self.stateful.items()},
            "config": self.config,
        }
        (self.directory / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _append_progress(self, epoch: int, logs: dict, seconds: float) -> None:
        path = self.directory / PROGRESS_FILE
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        row = {key: f"{logs[key]:.6f}" for key in PROGRESS_FIELDS[1:5] if key in logs}
        row |= {"epoch": epoch, "learning_rate": f"{float(rate):.3e}", "seconds": round(seconds, 1)}
        # The precision too: a run resumed on another host may change it (training.train's --resume).
        row["host"] = f"{training_device()}, {keras.mixed_precision.global_policy().compute_dtype}"
        new = not path.is_file()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, PROGRESS_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)

    @staticmethod
    def _counters(callback) -> dict:
        return {name: float(getattr(callback, name)) for name in CALLBACK_COUNTERS if hasattr(callback, name)}
