"""What a GPU session brings back, within the device's limits: 8 files of at most 16 MiB, 64 MiB in all.

One fer_cnn weights file is 19.3 MB of float32 (it compresses by only 10 %, losslessly), so the chosen
files go into one uncompressed tar cut into 16 MiB parts (``results.tar.00``, ...), beside
``manifest.json`` (the runs, the parts and the tar's sha256) and ``log.txt`` (the runs' output).
Files are chosen by priority until 63 MiB are taken:

0. every run's config.json, history.csv, timing.json, curves.png, progress.csv and state.json;
1. best.weights.h5 of each finished run that no finished later stage of the plan starts from;
2. checkpoint.npz of each run stopped by the budget (to continue it with ``--resume``);
3. those runs' last.weights.h5 (when it differs from best), and a stopped run's best weights.

What does not fit is named in the manifest as left behind.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from training.gpu.plan import CHECKPOINTS

PART_BYTES = 16 * 2**20
ARCHIVE_BYTES = 63 * 2**20  # of the 64 MiB: the rest is for manifest.json and log.txt
LOG_TAIL_BYTES = 128 * 2**10  # per run, in log.txt
SMALL_RUN_FILES = ("config.json", "history.csv", "timing.json", "curves.png")
SMALL_CHECKPOINT_FILES = ("progress.csv", "state.json")
FINISHED, STOPPED, KILLED = "finished", "stopped for time", "killed at the limit"
TRAINED = (FINISHED, STOPPED, KILLED)  # states after which a run's files are on disk
STOPPED_FOR_TIME = 75  # training.gpu.timed_train's exit status for STOPPED (EX_TEMPFAIL: it can go on)


@dataclass
class RunResult:
    name: str
    status: str  # FINISHED, STOPPED, KILLED, "failed", "skipped: ..." or "not started"
    seconds: float = 0.0
    source_run: str = ""  # the earlier run of the plan it started from


def wanted_files(work: Path, runs: list[RunResult]) -> list[tuple[int, str]]:
    """(priority, path under ``work``) of every file worth bringing back, as listed above."""
    superseded = {run.source_run for run in runs if run.status in TRAINED}
    found: list[tuple[int, str]] = []
    for run in runs:
        folder, checkpoint = f"runs/{run.name}", f"{CHECKPOINTS}/{run.name}"
        found += [(0, f"{folder}/{name}") for name in SMALL_RUN_FILES]
        found += [(0, f"{checkpoint}/{name}") for name in SMALL_CHECKPOINT_FILES]
        best, last = f"{folder}/best.weights.h5", f"{folder}/last.weights.h5"
        if run.status == FINISHED and run.name not in superseded:
            found += [(1, best)] + ([] if same_file(work / best, work / last) else [(3, last)])
        elif run.status in (STOPPED, KILLED):
            found += [(2, f"{checkpoint}/checkpoint.npz"), (3, best)]
    return [(priority, path) for priority, path in found if (work / path).is_file()]


def same_file(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)


def choose(sized: list[tuple[int, str, int]], budget: int) -> tuple[list[str], list[str]]:
    """Files taken in priority order (the plan's order within one) while they fit, and those left."""
    taken, left, used = [], [], 0
    for _, path, size in sorted(sized, key=lambda item: item[0]):
        cost = tar_bytes(size)
        if used + cost <= budget:
            taken.append(path)
            used += cost
        else:
            left.append(path)
    return taken, left


def tar_bytes(size: int) -> int:
    """A file's bytes in a tar: a 512-byte header and its data padded to 512."""
    return 512 + -(-size // 512) * 512


def pack(work: Path, runs: list[RunResult], out: Path, budget_s: float) -> dict:
    """Write the parts, log.txt and manifest.json (last) under ``out``; returns the manifest."""
    sized = [(priority, path, (work / path).stat().st_size) for priority, path in wanted_files(work, runs)]
    taken, left = choose(sized, ARCHIVE_BYTES - 10240)  # tarfile pads the whole to 10 KiB records
    archive = work / "results.tar"
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:  # no per-file extended headers
        for path in taken:
            tar.add(work / path, arcname=path)
    out.mkdir(parents=True, exist_ok=True)
    parts, digest = split(archive, out)
    (out / "log.txt").write_bytes(b"".join(log_tail(work, run.name) for run in runs))
    manifest = {
        "budget_s": budget_s,
        "runs": [asdict(run) | {"epochs": epochs_done(work, run.name)} for run in runs],
        "archive": {"parts": parts, "bytes": archive.stat().st_size, "sha256": digest},
        "brought": taken,
        "left_behind": left,
    }
    partial = out / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(out / "manifest.json")
    return manifest


def split(archive: Path, out: Path) -> tuple[list[str], str]:
    """Cut ``archive`` into PART_BYTES pieces under ``out`` (dropping older ones); names and sha256."""
    for old in out.glob("results.tar.*"):
        old.unlink()
    names, digest = [], hashlib.sha256()
    with archive.open("rb") as source:
        while chunk := source.read(PART_BYTES):
            names.append(f"results.tar.{len(names):02d}")
            (out / names[-1]).write_bytes(chunk)
            digest.update(chunk)
    return names, digest.hexdigest()


def log_tail(work: Path, name: str) -> bytes:
    log = work / "logs" / f"{name}.log"
    if not log.is_file():
        return b""
    return f"===== {name} =====\n".encode() + log.read_bytes()[-LOG_TAIL_BYTES:] + b"\n"


def epochs_done(work: Path, name: str) -> int:
    state = work / CHECKPOINTS / name / "state.json"
    return json.loads(state.read_text())["epoch"] if state.is_file() else 0
