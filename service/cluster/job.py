"""The driver of ``fer analyze --ray``: connect, list the files, run the two datasets, write, report."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import ray

from service.files import IMAGE_SUFFIXES, iter_images
from service.inputs import VIDEO_SUFFIXES, is_video
from service.settings import Settings

from .options import LOCAL
from .tables import IMAGE_ORDER, VIDEO_ORDER, read_sorted, table_rows
from .workers import ImageBatches, Spec, video_table

MAX_BLOCKS = 200  # of the list of files: enough to keep every actor fed from a small folder
IMAGES_PER_BATCH = 16  # per actor call: enough to amortise Ray's per-call cost, small enough to spread a folder


@dataclass(frozen=True)
class RayRun:
    """Where and how: the cluster's address, the output folder, the extra sorted file ("csv", "jsonl" or None)."""

    address: str
    out: Path
    also: str | None = None
    actors: int | None = None  # None: as many as the cluster's CPUs allow at ``threads`` each
    batch_size: int = IMAGES_PER_BATCH


@dataclass(frozen=True)
class Summary:
    images: int
    videos: int
    faces: int
    errors: int

    def line(self, out: Path) -> str:
        return f"{self.images} images, {self.videos} videos, {self.faces} faces, {self.errors} errors; wrote {out}"


def actor_settings(settings: Settings) -> Settings:
    """Each actor gets ``FER_ORT_INTRA_OP_THREADS`` threads (1 when 0: ONNX Runtime would take every core of the
    node once per actor) and as many Ray CPUs, so the pool never oversubscribes a node."""
    threads = settings.ort_intra_op_threads or 1
    # Absolute: a worker's current folder is not the driver's.
    update = {"ort_intra_op_threads": threads, "ort_inter_op_threads": 1, "model_store": settings.model_store.resolve()}
    return settings.model_copy(update=update)


def analyze_on_ray(
    paths: Sequence[Path],
    recursive: bool,
    settings: Settings,
    labels: Sequence[str],
    max_faces: int | None,
    run: RayRun,
) -> Summary:
    """Analyse the files under ``paths`` on Ray; Parquet in ``run.out``/images and ``run.out``/videos."""
    files = list(iter_images(paths, recursive, IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    videos = [path for path in files if is_video(path)]
    images = [path for path in files if not is_video(path)]
    settings = actor_settings(settings)
    spec = Spec(settings, tuple(labels), max_faces)
    counts = [(0, 0)]
    with connected(run.address):
        if images:
            counts.append(analyse_images(images, spec, run))
        if videos:
            counts.append(analyse_videos(videos, spec, run))
    faces, errors = (sum(column) for column in zip(*counts, strict=True))
    return Summary(len(images), len(videos), faces, errors)


@contextmanager
def connected(address: str) -> Iterator[None]:
    """Ray as the caller left it: already initialised (a test, a notebook) is used and left running."""
    if ray.is_initialized():
        yield
        return
    ray.init(address=None if address == LOCAL else address)
    try:
        yield
    finally:
        ray.shutdown()


def dataset(paths: Sequence[Path], blocks: int | None = None) -> ray.data.Dataset:
    """One row per file: the path as named (for the rows) and absolute (for reading on any node that mounts it)."""
    items = [{"path": str(path), "file": str(path.resolve())} for path in paths]
    return ray.data.from_items(items, override_num_blocks=blocks or min(len(paths), MAX_BLOCKS))


def analyse_images(images: Sequence[Path], spec: Spec, run: RayRun) -> tuple[int, int]:
    threads = spec.settings.ort_intra_op_threads
    actors = run.actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    faces = dataset(images).map_batches(
        ImageBatches,
        fn_constructor_args=(spec,),
        batch_size=run.batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads,
    )
    return write(faces, run, "images", IMAGE_ORDER)


def analyse_videos(videos: Sequence[Path], spec: Spec, run: RayRun) -> tuple[int, int]:
    """One block, one batch and one task per video; a task takes the CPUs an actor does."""
    timelines = dataset(videos, blocks=len(videos)).map_batches(
        partial(video_table, spec=spec), batch_size=1, num_cpus=spec.settings.ort_intra_op_threads
    )
    return write(timelines, run, "videos", VIDEO_ORDER)


def write(rows: ray.data.Dataset, run: RayRun, kind: str, order: Sequence[str]) -> tuple[int, int]:
    """Run the dataset into ``run.out``/``kind`` (Parquet, replacing an earlier run's), then the sorted file if asked.

    Returns (face rows, error rows)."""
    folder = run.out / kind
    # Writing is I/O: its tasks hold no CPU, or a pool sized to every CPU would leave them none and never finish.
    rows.write_parquet(str(folder), mode=ray.data.SaveMode.OVERWRITE, ray_remote_args={"num_cpus": 0})
    if run.also:
        write_sorted(folder, order, run.out / f"{kind}.{run.also}", run.also)
    error = pq.read_table(folder, columns=["error"]).column("error")
    return error.null_count, len(error) - error.null_count


def write_sorted(folder: Path, order: Sequence[str], target: Path, output_format: str) -> None:
    """The Parquet rows as ``fer analyze`` writes them in process, in the documented order (on the driver)."""
    from service.cli import Format, write_rows

    data = read_sorted(folder, order)
    with target.open("w", newline="") as sink:
        write_rows(table_rows(data), sink, data.column_names, Format(output_format))
