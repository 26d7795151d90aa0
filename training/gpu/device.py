"""The device command: train the plan's runs on the GPU machine, and pack what they made into $OUT.

    PYTHONUNBUFFERED=1 python3 -m training.gpu.device      # in the repository root there, .gpu/ carried

1. Installs the carried wheels (Keras and what it needs beyond the machine's JAX) into /tmp/site.
2. Unpacks the data into <work>/data/processed/fer2013.npz, and the carried files beside it.
3. Trains each run of .gpu/plan.toml in order, in <work> (so the plan's relative paths hold), each in
   its own process on Keras' JAX backend (training.gpu.timed_train). The plan's budget_s counts
   from this command's start: a run stops at an epoch's end when the next epoch would end too late,
   is killed at the limit if it does not, and no run starts with less than MIN_START_S left.
4. After every run, packs (training.gpu.pack) into $OUT: what is there is always the latest.
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from training.gpu.pack import FINISHED, KILLED, STOPPED, STOPPED_FOR_TIME, RunResult, pack
from training.gpu.plan import Plan, PlanRun, load_plan

REPO = Path(__file__).resolve().parents[2]
DATA_FILE = "fer2013-gpu.npz.xz"  # training.gpu.prepare's; unpacked to the path training reads by default
DATA_PATH = Path("data/processed/fer2013.npz")
PACK_S = 30  # kept at the end of the budget for the last packing
EXIT_S = 20  # a stopped run's end: curves, the best weights reloaded, the process gone
MIN_START_S = 120  # JAX's start, compilation and one epoch


def install_wheels(wheels: Path, site: Path) -> None:
    """The README's install: no index, no dependencies resolved (the machine has the rest)."""
    found = sorted(str(path) for path in wheels.glob("*.whl"))
    if found:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
        subprocess.run([*pip, "--no-cache-dir", "--upgrade", "--target", str(site), *found], check=True)


def unpack_inputs(gpu_dir: Path, work: Path) -> None:
    """The data where training.train looks by default, and the carried files at their own paths."""
    target = work / DATA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(gpu_dir / DATA_FILE) as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink, 2**20)  # xz checks its own CRC64 as it goes
    if (gpu_dir / "files").is_dir():
        shutil.copytree(gpu_dir / "files", work, dirs_exist_ok=True)


def child_env(site: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(site), str(REPO), os.environ.get("PYTHONPATH", "")]))
    return os.environ | {"KERAS_BACKEND": "jax", "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def train_run(run: PlanRun, work: Path, finish_by: float, env: dict) -> RunResult:
    """One run in its own process, its output in <work>/logs/<name>.log; killed at ``finish_by``."""
    result = RunResult(run.name, "not started", source_run=run.source_run())
    start_weights = run.file_arg("--init_weights")
    if start_weights and not (work / start_weights).exists():
        result.status = f"skipped: {start_weights} was not made"
        return result
    (work / "logs").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "training.gpu.timed_train", str(finish_by - EXIT_S), *run.train_argv()]
    started = time.time()
    with (work / "logs" / f"{run.name}.log").open("w") as log:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=max(1.0, finish_by - started))
            result.status = {0: FINISHED, STOPPED_FOR_TIME: STOPPED}.get(code, f"failed (exit status {code})")
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            result.status = KILLED
    result.seconds = round(time.time() - started, 1)
    return result


def report(result: RunResult, work: Path) -> None:
    """A line per run, and the end of its log (the call's output shows only its last 12,000 characters)."""
    print(f"[device] {result.name}: {result.status} after {result.seconds} s", flush=True)
    log = work / "logs" / f"{result.name}.log"
    if log.is_file():
        print("\n".join(log.read_text(errors="replace").splitlines()[-6:]), flush=True)


def train_plan(plan: Plan, work: Path, finish_by: float, env: dict, out: Path) -> list[RunResult]:
    """Every run that fits in the budget, in the plan's order, packed after each. A failed run ends
    the plan: its cause (an import, a version) would most likely fail the next runs too, and the
    session's minutes are better spent on a corrected call."""
    results = [RunResult(run.name, "not started", source_run=run.source_run()) for run in plan.runs]
    for index, run in enumerate(plan.runs):
        left = finish_by - time.time()
        if left < MIN_START_S:
            print(f"[device] {left:.0f} s left: {', '.join(r.name for r in plan.runs[index:])} not started")
            break
        print(f"[device] {run.name}: starting, {left:.0f} s left", flush=True)
        results[index] = train_run(run, work, finish_by, env)
        report(results[index], work)
        pack(work, results, out, plan.budget_s)
        if results[index].status.startswith("failed"):
            break
    return results


def main(argv: list[str] | None = None) -> None:
    started = time.time()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu-dir", type=Path, default=Path(".gpu"), help="what training.gpu.prepare built")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fer-gpu"))
    parser.add_argument("--site", type=Path, default=Path("/tmp/site"), help="where the wheels go")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out")))
    args = parser.parse_args(argv)
    gpu_dir, work = args.gpu_dir.resolve(), args.work.resolve()
    plan = load_plan(gpu_dir / "plan.toml")
    install_wheels(gpu_dir / "wheels", args.site)
    unpack_inputs(gpu_dir, work)
    results = train_plan(plan, work, started + plan.budget_s - PACK_S, child_env(args.site.resolve()), args.out)
    manifest = pack(work, results, args.out, plan.budget_s)
    print(f"[device] packed {len(manifest['brought'])} files; left behind: {manifest['left_behind'] or 'none'}")
    print(f"[device] done in {time.time() - started:.0f} s of {plan.budget_s:.0f}")


if __name__ == "__main__":
    main()
