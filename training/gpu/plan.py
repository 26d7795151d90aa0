"""The device plan: which runs a GPU session trains, in order, and the wall-clock budget they share.

A plan is a TOML file (``training/gpu/plan.toml`` is the default)::

    budget_s = 510
    [[runs]]
    name = "fer_cnn_r1"
    args = ["--residual", "true", "--seed", "3", "--mixed_precision", "true"]

``args`` are training.train's; paths in them are relative to the repository root, as here. A later
run starts from an earlier one with ``--init_weights runs/<earlier>/last.weights.h5``; any other file
an argument names (a teacher's probabilities) is carried to the device by
training.gpu.prepare. The runner itself names the data, the run and checkpoint folders.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from training.config import parse_args

DEFAULT_PLAN = Path(__file__).with_name("plan.toml")
CHECKPOINTS = "checkpoints"  # the runner's --checkpoint_dir, relative to its work folder
RUNNER_ARGS = ("--name", "--data", "--runs_dir", "--checkpoint_dir")
FILE_ARGS = ("--init_weights", "--teacher")
NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")  # a run's name becomes folder and tar member names (USTAR: 100)


@dataclass(frozen=True)
class PlanRun:
    name: str
    args: tuple[str, ...]

    def train_argv(self) -> list[str]:
        """training.train's arguments on the device."""
        return ["--name", self.name, *self.args, "--checkpoint_dir", CHECKPOINTS]

    def file_arg(self, option: str) -> str:
        """The value of a file-valued option, or ""."""
        args = list(self.args)
        return args[args.index(option) + 1] if option in args else ""

    def source_run(self) -> str:
        """The earlier run whose weights this one starts from (``runs/<name>/...``), or ""."""
        parts = Path(self.file_arg("--init_weights")).parts
        return parts[1] if len(parts) > 2 and parts[0] in ("runs", CHECKPOINTS) else ""


@dataclass(frozen=True)
class Plan:
    budget_s: float
    runs: tuple[PlanRun, ...]

    def carried_files(self) -> list[str]:
        """Files the runs read that no run of the plan makes: they travel in .gpu/files/."""
        found = []
        for run in self.runs:
            for option in FILE_ARGS:
                value = run.file_arg(option)
                if value and not (option == "--init_weights" and run.source_run()):
                    found.append(value)
        return found


def load_plan(path: Path) -> Plan:
    """Read and check a plan: unique names, arguments training.train accepts, earlier runs first."""
    raw = tomllib.loads(Path(path).read_text())
    runs = tuple(PlanRun(entry["name"], tuple(entry["args"])) for entry in raw["runs"])
    seen: set[str] = set()
    for run in runs:
        check_run(run, seen)
        seen.add(run.name)
    return Plan(float(raw["budget_s"]), runs)


def check_run(run: PlanRun, earlier: set[str]) -> None:
    if not NAME.fullmatch(run.name) or run.name in earlier:
        raise ValueError(f"run name {run.name!r}: up to 40 letters, digits, '_', '-', '.', once per plan")
    taken = [arg for arg in run.args if arg in RUNNER_ARGS]
    if taken:
        raise ValueError(f"{run.name}: {', '.join(taken)} are the runner's to set")
    for option in FILE_ARGS:
        if Path(run.file_arg(option)).is_absolute():
            raise ValueError(f"{run.name}: {option} must be relative to the repository root")
    source = run.source_run()
    if source and source not in earlier:
        raise ValueError(f"{run.name} starts from {source!r}, which is not an earlier run of the plan")
    try:
        parse_args(run.train_argv())  # a misspelt option or value fails here, not on the GPU machine
    except SystemExit:
        raise ValueError(f"{run.name}: training.train rejects its arguments (see above)") from None
