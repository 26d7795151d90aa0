"""The rows ``--ray`` writes, as Arrow tables: one schema per kind, so that every block (even one
holding only error rows, all nulls) has the same column types and Parquet files concatenate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from service.files import Row, columns
from service.video.timeline import ID_COLUMNS, VideoTimeline

INTEGER_COLUMNS = {"face", "frame", "track_id", "x", "y", "w", "h"}
TEXT_COLUMNS = {"path", "emotion", "error"}
# The order of the CSV and JSON lines files: the in-process order for one folder (sorted files, faces
# largest first; a video's frames in order). A stable sort keeps a frame's faces in pipeline order.
IMAGE_ORDER = ("path", "face")
VIDEO_ORDER = ("path", "frame")


def image_columns(labels: Sequence[str]) -> list[str]:
    return columns(labels)


def video_columns(labels: Sequence[str]) -> list[str]:
    """``fer video``'s CSV columns, with the file's path first and the error last as for images."""
    return ["path", *ID_COLUMNS, *labels, "error"]


def schema(names: Sequence[str]) -> pa.Schema:
    """Integers for ids and boxes, text for path, emotion and error, floats for the rest (probabilities, time)."""

    def arrow_type(name: str) -> pa.DataType:
        if name in INTEGER_COLUMNS:
            return pa.int64()
        return pa.string() if name in TEXT_COLUMNS else pa.float64()

    return pa.schema([(name, arrow_type(name)) for name in names])


def table(rows: Iterable[Row], names: Sequence[str]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema(names))


def video_rows(path: str, timeline: VideoTimeline) -> Iterator[Row]:
    """One row per face and sampled frame: ``fer video``'s values, under the path of the video."""
    names = [*ID_COLUMNS, *timeline.labels]
    for row in timeline.rows:
        yield {"path": path, **dict(zip(names, row.csv_values(timeline.labels), strict=True)), "error": None}


def error_row(path: str, error: str, names: Sequence[str]) -> Row:
    return {**dict.fromkeys(names), "path": path, "error": error}


def read_sorted(folder: Path, order: Sequence[str]) -> pa.Table:
    """Every Parquet file Ray wrote in ``folder``, as one table in the documented order."""
    return pq.read_table(folder).sort_by([(name, "ascending") for name in order])


def table_rows(data: pa.Table) -> Iterator[Row]:
    for batch in data.to_batches():
        yield from batch.to_pylist()
