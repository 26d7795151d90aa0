"""One run of a device plan: training.train with a deadline (training.gpu.device starts it).

    python -m training.gpu.timed_train <deadline, Unix time> <training.train arguments>

It stops at the end of the epoch after which the next would end past the deadline; its exit status
is then STOPPED_FOR_TIME (0 when the run finished: all epochs, or early stopping).
"""

from __future__ import annotations

import sys

import keras

from training.callbacks import StopBeforeDeadline
from training.config import parse_args
from training.gpu.pack import STOPPED_FOR_TIME
from training.host import training_device
from training.train import train


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    deadline, cfg = float(argv[0]), parse_args(argv[1:])
    backend = keras.backend.backend()
    print(f"run {cfg.name} on {training_device()}: Keras {keras.__version__} on {backend}: {cfg}", flush=True)
    stop = StopBeforeDeadline(deadline)
    train(cfg, verbose=2, extra_callbacks=[stop])
    if stop.stopped_epoch is None or stop.stopped_epoch + 1 == cfg.epochs:  # the last epoch: nothing cut
        return 0
    print(f"{cfg.name}: stopped for time after epoch {stop.stopped_epoch + 1} of {cfg.epochs}", flush=True)
    return STOPPED_FOR_TIME


if __name__ == "__main__":
    sys.exit(main())
