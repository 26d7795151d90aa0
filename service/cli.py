"""``fer``: the service's command line (typer), installed with the package.

    fer analyze photos/ --out faces.csv          # offline: one CSV row per face, a progress bar
    fer analyze photos/ -r --format jsonl --detector blazeface
    fer serve --port 8080                         # the HTTP API (python -m service)
    fer video interview.mp4 --out emotions.csv    # emotions over time (python -m service.video)

Everything runs on this machine with the bundled models; the ``FER_*`` settings apply as for the
server. ``python -m service.cli`` is the same program.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from service.cluster.options import RayAddressCommand
from service.files import Row, columns, face_rows, iter_images
from service.inputs import InputError, expand_inputs

if TYPE_CHECKING:
    from service.library import FaceAnalyzer

if TYPE_CHECKING:
    from service.library import FaceAnalyzer

HELP = "Facial expression recognition on this machine: analyse image files, serve the API, analyse a video."
app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False)


RAY_HELP = (
    "analyse on Ray: Parquet (and --format's file, sorted) in the --out folder; videos found are analysed too. "
    "Alone: this machine's Ray instance, or a new one; or an address: auto, ray://head:10001."
)


class Detector(StrEnum):
    haar = "haar"
    blazeface = "blazeface"


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@app.command("analyze", cls=RayAddressCommand)
def analyze_files(
    paths: Annotated[list[Path], typer.Argument(help="image files, folders, quoted globs, .txt lists of paths")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write (default: standard output)")] = None,
    output_format: Annotated[
        Format | None, typer.Option("--format", "-f", help="csv (default) or jsonl; with --ray, written beside Parquet")
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="also analyse the folders' subfolders")] = False,
    detector: Annotated[Detector | None, typer.Option(help="face detector (default: FER_DETECTOR, haar)")] = None,
    model: Annotated[str | None, typer.Option(help="model name, e.g. fer_lite (default: FER_MODEL_NAME)")] = None,
    version: Annotated[str | None, typer.Option(help="model version (default: FER_MODEL_VERSION)")] = None,
    max_faces: Annotated[int | None, typer.Option(min=1, help="keep the N largest faces per image")] = None,
    ray: Annotated[str | None, typer.Option(metavar="[ADDRESS]", help=RAY_HELP)] = None,
) -> None:
    """Analyse image files offline: one row per face found, and one per file that failed (its error column)."""
    from tqdm import tqdm

    analyzer = _load_analyzer(model, version, detector)
    if ray is not None:
        raise typer.Exit(_on_ray(_inputs(paths), recursive, analyzer, max_faces, ray, out, output_format))
    labels = analyzer.recognizer.labels
    files = list(iter_images(_inputs(paths), recursive))
    progress = tqdm(files, unit="image", file=sys.stderr)
    rows = face_rows(progress, lambda path: analyzer.analyze(path, max_faces=max_faces), labels)
    with _output(out) as sink:
        faces, errors = write_rows(rows, sink, columns(labels), output_format or Format.csv)
    typer.echo(f"{len(files)} images, {faces} faces, {errors} errors" + (f"; wrote {out}" if out else ""), err=True)
    raise typer.Exit(1 if errors else 0)


def _load_analyzer(model: str | None, version: str | None, detector: Detector | None) -> FaceAnalyzer:
    """The model and detectors, or exit status 2 with a one-line reason (a missing model, a bad setting)."""
    from service.faces.detector import DetectorLoadError
    from service.library import FaceAnalyzer
    from service.model_store import ModelLoadError

    try:
        return FaceAnalyzer(model=model, version=version, detector=detector.value if detector else None)
    except (ModelLoadError, DetectorLoadError, ValueError) as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None


def _inputs(paths: list[Path]) -> list[Path]:
    try:
        return expand_inputs(paths)
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="PATHS") from exc


def _on_ray(
    paths: list[Path],
    recursive: bool,
    analyzer: FaceAnalyzer,
    max_faces: int | None,
    address: str,
    out: Path | None,
    output_format: Format | None,
) -> int:
    """--ray: Ray and pyarrow are imported here only (the cluster extra); Parquet goes to the --out folder."""
    try:
        from service.cluster.job import RayRun, analyze_on_ray
    except ModuleNotFoundError as exc:
        hint = f"needs the cluster extra ({exc.name} is missing): pip install 'fer-service[cluster]'"
        raise typer.BadParameter(hint, param_hint="--ray") from exc
    if out is None:
        raise typer.BadParameter("--ray writes Parquet files: name a folder for them", param_hint="--out")
    run = RayRun(address, out, output_format.value if output_format else None)
    labels = tuple(analyzer.recognizer.labels)
    summary = analyze_on_ray(paths, recursive, analyzer.settings, labels, max_faces, run)
    typer.echo(summary.line(out), err=True)
    return 1 if summary.errors else 0


def write_rows(rows: Iterable[Row], sink: TextIO, header: list[str], output_format: Format) -> tuple[int, int]:
    """Write rows as they come; returns (face rows, error rows)."""
    writer = csv.DictWriter(sink, header) if output_format is Format.csv else None
    if writer is not None:
        writer.writeheader()
    faces = errors = 0
    for row in rows:
        if writer is not None:
            writer.writerow(row)
        else:
            sink.write(json.dumps(row) + "\n")
        errors += bool(row["error"])
        faces += not row["error"]
    return faces, errors


def _output(out: Path | None) -> AbstractContextManager[TextIO]:
    """The file to write, or standard output (left open when the ``with`` ends)."""
    return nullcontext(sys.stdout) if out is None else out.open("w", newline="")


@app.command("serve")
def serve_api(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: FER_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: FER_PORT, 8000)")] = None,
    model: Annotated[str | None, typer.Option(help="model name (default: FER_MODEL_NAME)")] = None,
    version: Annotated[str | None, typer.Option(help="model version (default: FER_MODEL_VERSION)")] = None,
    detector: Annotated[Detector | None, typer.Option(help="default face detector (FER_DETECTOR)")] = None,
) -> None:
    """Serve the HTTP API (the same as python -m service)."""
    from service.__main__ import main

    chosen = {"HOST": host, "PORT": port, "MODEL_NAME": model, "MODEL_VERSION": version, "DETECTOR": detector}
    # Options become FER_* variables: with FER_WORKERS > 1 each worker process reads its settings from them.
    for name, value in chosen.items():
        if value is not None:
            os.environ[f"FER_{name}"] = value.value if isinstance(value, Enum) else str(value)
    main()


@app.command(
    "video",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def analyse_video(ctx: typer.Context) -> None:
    """Emotions over time in a video file: fer video INPUT --out emotions.csv [--every N] [--plot P] (--help)."""
    from service.video.__main__ import main

    raise typer.Exit(main(list(ctx.args)))


if __name__ == "__main__":
    app()
