"""Checkpoints from which a run continues exactly, later and on another machine.

A training machine is reclaimed after a few hours and the next one starts from what was committed,
so a run writes, at the end of every epoch, one folder that holds all it needs to go on:

    checkpoint.npz   model weights (float32), optimizer state (moments in bfloat16 by default, as
                     uint16 bit patterns: half the bytes, float32's range), the random generators'
                     states of augmentation and dropout, and the run's state: epochs done,
                     optimizer step, the config, the stateful callbacks' counters
    state.json       a readable copy of that state
    progress.csv     one row per epoch: loss and accuracy on Training and PublicTest, learning
                     rate, wall seconds, host

The checkpoint is replaced in one atomic step, so a machine that goes at any moment leaves one
whole epoch's checkpoint, and a resume drops a progress row written for an epoch it does not hold.

The data order is not state: each epoch's permutation is drawn from ``(seed, epoch)``
(``EpochBatches``), so the batches after a resume are those an uninterrupted run would have seen.
An epoch cut short is done again from its start.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
from keras.src.random.seed_generator import SeedGenerator

from training.config import TrainConfig
from training.host import training_device
from training.progress import PROGRESS_FIELDS, append_progress, trim_progress

CHECKPOINT_FILE = "checkpoint.npz"
STATE_FILE = "state.json"
# The run's state inside checkpoint.npz: the one that resumes (state.json is written after it).
STATE_ARRAY = "state_json"
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


def save_checkpoint(model: keras.Model, path: Path, moments: str = "bfloat16", state: dict | None = None) -> None:
    """Weights, optimizer variables, generator states and the run's state into one .npz, written
    atomically: whenever the machine goes, the file on disk is one whole epoch's."""
    arrays = {f"weight_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    if state is not None:
        arrays[STATE_ARRAY] = np.array(json.dumps(state))  # a unicode array: np.load reads it without pickle
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
    """The state saved with the checkpoint itself; state.json for checkpoints written before it was."""
    checkpoint = Path(directory) / CHECKPOINT_FILE
    if checkpoint.is_file():
        with np.load(checkpoint) as data:
            if STATE_ARRAY in data.files:
                return json.loads(str(data[STATE_ARRAY]))
    return json.loads((Path(directory) / STATE_FILE).read_text())


def resumable_state(cfg: TrainConfig, resume: bool) -> dict | None:
    """The saved state to continue from, or None for a new run (which must not overwrite one)."""
    found = any((cfg.checkpoint_path / name).is_file() for name in (STATE_FILE, CHECKPOINT_FILE))
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
    trim_progress(cfg.checkpoint_path, state["epoch"])
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
        # The row first, then the checkpoint and its state in one atomic write (see the module's doc).
        self._append_progress(epoch, logs or {}, time.time() - self.started)
        state = {
            "epoch": epoch + 1,
            "step": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
            "callbacks": {key: self._counters(callback) for key, callback in self.stateful.items()},
            "config": self.config,
        }
        save_checkpoint(self.model, self.directory / CHECKPOINT_FILE, self.moments, state)
        (self.directory / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _append_progress(self, epoch: int, logs: dict, seconds: float) -> None:
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        row = {key: f"{logs[key]:.6f}" for key in PROGRESS_FIELDS[1:5] if key in logs}
        row |= {"epoch": epoch, "learning_rate": f"{float(rate):.3e}", "seconds": round(seconds, 1)}
        # The precision too: a run resumed on another host may change it (training.train's --resume).
        row["host"] = f"{training_device()}, {keras.mixed_precision.global_policy().compute_dtype}"
        append_progress(self.directory, row)

    @staticmethod
    def _counters(callback) -> dict:
        return {name: float(getattr(callback, name)) for name in CALLBACK_COUNTERS if hasattr(callback, name)}
