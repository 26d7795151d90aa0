"""Images per second of ``fer analyze``: in process, and on a local Ray instance with 1 and 2 actors
(``python -m bench.cluster``) -> cluster.json (see bench.common for where); results/cluster.json holds
the figures of docs/cluster.md.

The same files for every run: ``--images`` copies of the benchmark frame (640x480 JPEG, one face
of about 90 px) in a temporary folder. Each run is timed from start to written output, Ray's own
start-up excepted (measured apart): in process, loading the model, analysing every file and
writing the CSV (what ``fer analyze`` does); on Ray, starting the actors (each loads the model),
analysing and writing Parquet (what ``--ray`` does). ONNX Runtime has one thread everywhere; OpenCV's
detection has its default in process (every core, as ``fer analyze`` runs it) and one thread per actor
(``--ray`` holds each actor to the CPUs it reserves). One run each, in that order, on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MODEL_STORE, RESULTS, frame_640x480, machine_info, output, r3, update_json

CLUSTER_JSON = RESULTS / "cluster.json"  # the recorded figures
RAY_CPUS = 2
MILLION = 1_000_000


def write_images(folder: Path, count: int) -> list[Path]:
    frame = frame_640x480()
    paths = [folder / f"frame-{index:05d}.jpg" for index in range(count)]
    for path in paths:
        path.write_bytes(frame)
    return paths


def in_process(folder: Path, out: Path) -> tuple[float, int]:
    """(seconds, face rows) of the in-process run, as ``fer analyze FOLDER --out OUT``."""
    from service.cli import Format, write_rows
    from service.files import columns, face_rows, iter_images
    from service.library import FaceAnalyzer

    began = time.perf_counter()
    analyzer = FaceAnalyzer()
    labels = analyzer.recognizer.labels
    rows = face_rows(iter_images([folder]), analyzer.analyze, labels)
    with out.open("w", newline="") as sink:
        faces, _ = write_rows(rows, sink, columns(labels), Format.csv)
    return time.perf_counter() - began, faces


def on_ray(folder: Path, out: Path, actors: int) -> tuple[float, int]:
    """(seconds, face rows) of ``fer analyze FOLDER --ray --out OUT`` with ``actors`` actors, Ray already up."""
    from service.cluster.job import RayRun, analyze_on_ray
    from service.library import FaceAnalyzer
    from service.settings import Settings

    settings = Settings()
    labels = FaceAnalyzer(settings=settings).recognizer.labels  # the driver's check, as the command makes it
    began = time.perf_counter()
    summary = analyze_on_ray([folder], False, settings, labels, None, RayRun("local", out, actors=actors))
    return time.perf_counter() - began, summary.faces


def measure(images: int) -> dict[str, Any]:
    import ray

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        folder = Path(scratch) / "images"
        folder.mkdir()
        write_images(folder, images)
        seconds, faces = in_process(folder, Path(scratch) / "faces.csv")
        runs.append(run_row("in process", 1, seconds, images, faces))
        began = time.perf_counter()
        ray.init(num_cpus=RAY_CPUS, include_dashboard=False)
        startup = time.perf_counter() - began
        try:
            for actors in (1, 2):
                seconds, faces = on_ray(folder, Path(scratch) / f"ray-{actors}", actors)
                runs.append(run_row(f"Ray, {actors} actor{'s' * (actors > 1)}", actors, seconds, images, faces))
            driver = driver_costs(Path(scratch) / "ray-2" / "images")
        finally:
            ray.shutdown()
    size = len(frame_640x480())
    return {
        "machine": machine_info(),
        "images": images,
        "image_bytes": size,
        "ray_cpus": RAY_CPUS,
        "ray_start_s": r3(startup),
        "runs": runs,
        "driver": driver,
    }


def figures(results: dict[str, Any]) -> str:
    """The table of docs/cluster.md, from results/cluster.json's ``local`` section."""
    lines = ["| run | processes | seconds | images/s |", "|---|---:|---:|---:|"]
    for run in results["runs"]:
        lines.append(f"| {run['run']} | {run['processes']} | {run['seconds']:.1f} | {run['images_per_s']:.1f} |")
    machine = results["machine"]
    lines.append("")
    lines.append(
        f"{results['images']} images of {results['image_bytes'] / 1000:.0f} kB; {machine['cpu']}, "
        f"{machine['cores']} cores, measured {machine['measured_at']}; "
        f"Ray's start-up, not counted above: {results['ray_start_s']:.1f} s."
    )
    return "\n".join(lines) + "\n"


def driver_costs(parquet: Path) -> dict[str, float]:
    """What stays on the driver whatever the cluster's size, for a million files: the dataset of their paths
    and the sorted CSV, both timed on a million rows (made-up paths; the run's rows repeated under new paths)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from service.cluster.job import dataset, write_sorted
    from service.cluster.tables import IMAGE_ORDER

    paths = [Path(f"/data/collection/{index // 1000:04d}/{index:07d}.jpg") for index in range(MILLION)]
    began = time.perf_counter()
    assert dataset(paths).count() == MILLION
    listed = time.perf_counter() - began
    rows = pq.read_table(parquet)
    million = rows.take([index % rows.num_rows for index in range(MILLION)])
    million = million.set_column(0, "path", pa.array([str(path) for path in reversed(paths)]))
    folder = parquet.parent / "million"
    folder.mkdir()
    pq.write_table(million, folder / "rows.parquet")
    began = time.perf_counter()
    write_sorted(folder, IMAGE_ORDER, folder.parent / "million.csv", "csv")
    return {
        "dataset_of_a_million_paths_s": r3(listed),
        "sorted_csv_of_a_million_rows_s": r3(time.perf_counter() - began),
    }


def run_row(name: str, processes: int, seconds: float, images: int, faces: int) -> dict[str, Any]:
    row = {"run": name, "processes": processes, "seconds": r3(seconds), "images_per_s": r3(images / seconds)}
    print(row | {"faces": faces})
    assert faces == images, f"{name}: {faces} faces in {images} one-face images"
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000, help="copies of the benchmark frame to analyse")
    parser.add_argument("--out", type=Path, default=output(CLUSTER_JSON.name), help="results file (JSON)")
    args = parser.parse_args(argv)
    # One ONNX Runtime thread per process or actor; the committed model, whatever the shell's FER_* say.
    os.environ.update({"FER_ORT_INTRA_OP_THREADS": "1", "FER_MODEL_STORE": str(MODEL_STORE)})
    results = measure(args.images)
    update_json(args.out, "local", results)
    print(figures(results))


if __name__ == "__main__":
    main()
