"""Build .gpu/, what a GPU session carries to the device (run here, on the CPU, before the session):

    python -m training.gpu.prepare [--plan training/gpu/plan.toml]

- ``fer2013-gpu.npz.xz``: the prepared data's Training and PublicTest faces (``*_x``, uint8) and labels,
  with the preprocessing metadata, xz-compressed. PrivateTest stays here: its arrays are empty. The
  preprocessed faces are noisy (CLAHE): xz takes 74 MB to about 60 MB, lossless, and PNG, WebP or a
  pixel predictor do no better; they are the bulk of the 64 MiB a call may send.
- ``wheels/``: Keras and the packages it needs that the machine lacks (it has JAX, not Keras), for
  CPython 3.12 on x86-64, at the versions installed here.
- ``files/``: the files the plan's runs read that it does not make (the teacher's probabilities).
- ``plan.toml``: the plan, checked (training.gpu.plan).

The data file is rebuilt only when the source changed (its size and time are kept in data.json).
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from training.gpu.device import DATA_FILE
from training.gpu.plan import DEFAULT_PLAN, load_plan
from training.gpu.slim import DEVICE_LIMIT

# On the machine already (the device's KINDS.md, "Python packages already there"): not carried.
ON_DEVICE = {"absl-py", "h5py", "ml-dtypes", "numpy", "packaging", "rich", "typing-extensions"}
CARRIED = ("keras", "namex", "optree")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def gpu_data(source: Path) -> bytes:
    """An uncompressed .npz that training.prepare.load_prepared reads, without PrivateTest's faces."""
    with np.load(source, allow_pickle=False) as data:
        arrays = {key: data[key] for key in ("meta", "Training_x", "Training_y", "PublicTest_x", "PublicTest_y")}
    arrays["PrivateTest_x"] = np.zeros((0, *arrays["Training_x"].shape[1:]), np.uint8)
    arrays["PrivateTest_y"] = np.zeros(0, arrays["Training_y"].dtype)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_data(source: Path, out: Path) -> None:
    """``out/DATA_FILE`` from ``source``, unless data.json says it was built from this very file."""
    stat = source.stat()
    record = {"source": str(source), "bytes": stat.st_size, "mtime": stat.st_mtime}
    recorded = out / "data.json"
    if (out / DATA_FILE).is_file() and recorded.is_file() and json.loads(recorded.read_text()) == record:
        return
    print(f"compressing {source}'s Training and PublicTest faces (about a minute)", flush=True)
    (out / DATA_FILE).write_bytes(lzma.compress(gpu_data(source), preset=6))
    recorded.write_text(json.dumps(record) + "\n")


def download_wheels(folder: Path) -> None:
    """The installed versions of CARRIED as CPython 3.12 x86-64 wheels (one each: two versions of a
    package stop the device's install); fails if they need a package the device lacks."""
    for name in CARRIED:
        needed = {requirement_name(req) for req in metadata.requires(name) or [] if "extra ==" not in req}
        if needed - ON_DEVICE - set(CARRIED):
            raise SystemExit(f"{name} needs {sorted(needed - ON_DEVICE - set(CARRIED))}: add to CARRIED")
    shutil.rmtree(folder, ignore_errors=True)
    pins = [f"{name}=={metadata.version(name)}" for name in CARRIED]
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(folder)]
    subprocess.run([*pip, "--python-version", "3.12", "--implementation", "cp", *platforms, *pins], check=True)


def requirement_name(requirement: str) -> str:
    """``optree>=0.13 ; python_version...`` -> ``optree`` (normalised as pip lists it)."""
    name = requirement.split(";")[0].strip()
    for mark in "<>=!~[ (":
        name = name.split(mark)[0]
    return name.lower().replace("_", "-")


def carry_files(files: list[str], out: Path) -> None:
    """Copy each file the plan reads into out/files/ at its own relative path."""
    shutil.rmtree(out / "files", ignore_errors=True)
    for name in files:
        if not Path(name).is_file():
            raise SystemExit(f"{name}: the plan reads it and it is not here (a teacher: python -m training.teach)")
        target = out / "files" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(name, target)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", type=Path, default=DEFAULT_PLAN)
    parser.add_argument("--data", type=Path, default=Path("data/processed/fer2013.npz"))
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--no-wheels", action="store_true", help="for a run here: Keras is installed")
    args = parser.parse_args(argv)
    plan = load_plan(args.plan)
    args.out.mkdir(parents=True, exist_ok=True)
    carry_files(plan.carried_files(), args.out)  # first: a missing teacher fails before a minute of compression
    write_data(args.data, args.out)
    if not args.no_wheels:
        download_wheels(args.out / "wheels")
    shutil.copyfile(args.plan, args.out / "plan.toml")
    for path in sorted(args.out.iterdir()):
        size = folder_bytes(path) if path.is_dir() else path.stat().st_size
        print(f"{path}: {size / 2**20:.2f} MiB")
    total = folder_bytes(args.out)
    print(f"{args.out}: {total / 2**20:.1f} MiB of the {DEVICE_LIMIT / 2**20:.0f} MiB a device call may send")


if __name__ == "__main__":
    main()
