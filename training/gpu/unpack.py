"""Put what a GPU session brought back where a run made here would be (run here, after the session):

    python -m training.gpu.unpack --source <the call's files_at folder>

Joins the parts, checks the tar's sha256 against manifest.json, and writes each run into
``runs/<name>/`` (config.json, history.csv, timing.json, curves.png, the weights that came back,
and checkpoint/ with progress.csv and state.json), so that ``python -m training.export --run
runs/<name>`` works as usual: the runs' configs name the same relative paths as here (the data,
the teacher, an earlier stage's weights). A run stopped for time goes to
``results/checkpoints/<name>/`` instead, with its checkpoint.npz: ``make resume RUN=<name>``
continues it here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from training.gpu.plan import CHECKPOINTS


def joined_archive(source: Path, manifest: dict) -> bytes:
    """The parts in order, checked against the manifest's sha256 (a part lost or cut short fails)."""
    data = b"".join((source / name).read_bytes() for name in manifest["archive"]["parts"])
    if hashlib.sha256(data).hexdigest() != manifest["archive"]["sha256"]:
        raise SystemExit(f"{source}: the parts do not join into the tar the device packed")
    return data


def destination(member: str, names: set[str], runs: Path, checkpoints: Path) -> Path:
    """Where a member of the tar (runs/<name>/... or checkpoints/<name>/...) goes here."""
    top, name, file = member.split("/")
    if top == "runs":
        return runs / name / file
    if f"{CHECKPOINTS}/{name}/checkpoint.npz" in names:  # resumable: the tracked checkpoint folder
        return checkpoints / name / file
    return runs / name / "checkpoint" / file


def unpack(source: Path, runs: Path, checkpoints: Path) -> dict:
    """Write the runs that came back; refuses to overwrite a run or checkpoint folder. Returns the manifest."""
    manifest = json.loads((source / "manifest.json").read_text())
    archive = io.BytesIO(joined_archive(source, manifest))
    with tarfile.open(fileobj=archive) as tar, tempfile.TemporaryDirectory() as tmp:
        names = set(tar.getnames())
        targets = {name: destination(name, names, runs, checkpoints) for name in names}
        taken = sorted({str(target.parent) for target in targets.values() if target.parent.exists()})
        if taken:
            raise SystemExit(f"already here, not overwritten: {', '.join(taken)}")
        tar.extractall(tmp, filter="data")  # "data": no absolute paths, links or devices
        for name, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp) / name, target)
    return manifest


def summary(manifest: dict, runs: Path) -> list[str]:
    """Each run's outcome, what stayed on the device, and the export command of each run with weights."""
    lines = [
        f"{run['name']}: {run['status']}, {run['epochs']} epochs in {run['seconds']} s" for run in manifest["runs"]
    ]
    lines += [f"left on the device (did not fit in 64 MiB): {path}" for path in manifest["left_behind"]]
    for run in manifest["runs"]:
        if (runs / run["name"] / "best.weights.h5").is_file():
            lines.append(f"export: python -m training.export --run {runs / run['name']} --name NAME --version X.Y.Z")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="the folder with manifest.json and the parts")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--checkpoints", type=Path, default=Path("results/checkpoints"))
    args = parser.parse_args(argv)
    manifest = unpack(args.source, args.runs, args.checkpoints)
    print("\n".join(summary(manifest, args.runs)))


if __name__ == "__main__":
    main()
