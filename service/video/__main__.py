"""python -m service.video INPUT --out emotions.csv [--every N] [--plot timeline.png] [--annotated OUT.mp4]

Every N-th frame of a video file goes through the service's own pipeline (Haar detection,
micro-batched ONNX inference); each face gets a track id that follows the person. Writes one CSV
row per face and sampled frame: frame, time_s, track_id, x, y, w, h, emotion, confidence and the
probability of every emotion. The model and detector come from the FER_* settings, as for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from service.faces.detector import DetectorLoadError
from service.inference import DetectOptions
from service.loading import load_model
from service.model_store import ModelLoadError
from service.settings import Settings
from service.video.pipeline import FrameCallback, analyse_video, standalone_analyzer
from service.video.plot import INSTALL_HINT, save_timeline_plot
from service.video.reader import SampledFrame, VideoError, VideoReader
from service.video.timeline import TimelineRow, VideoTimeline
from service.video.writer import FOURCC_BY_SUFFIX, AnnotatedVideo

DESCRIPTION = "Emotions over time in a video file: one CSV row per face and sampled frame, faces tracked."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.video", description=DESCRIPTION)
    parser.add_argument("input", type=Path, help="a video file OpenCV (FFmpeg) can read")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--every", type=int, default=1, help="analyse every N-th frame (default: all)")
    parser.add_argument("--plot", type=Path, help="also write the timeline plot (PNG), one panel per track")
    parser.add_argument("--annotated", type=Path, help="also write the sampled frames with boxes (.mp4, .webm, .avi)")
    parser.add_argument("--max-faces", type=int, help="keep at most this many (largest) faces per frame")
    parser.add_argument("--min-face-size", type=int, help="smallest face side in pixels (default: FER_DETECT_MIN_FACE)")
    args = parser.parse_args(argv)
    if not args.input.is_file():
        parser.error(f"{args.input}: no such file")
    if args.every < 1:
        parser.error("--every must be at least 1")
    if args.annotated and args.annotated.suffix.lower() not in FOURCC_BY_SUFFIX:
        parser.error(f"--annotated: write one of {', '.join(FOURCC_BY_SUFFIX)}")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error(INSTALL_HINT)
    return args


async def analyse_file(args: argparse.Namespace, settings: Settings) -> tuple[VideoTimeline, float]:
    """Load the model, start a micro-batcher and run the video through the service's pipeline.

    Returns the timeline and the seconds the video took (model loading not included).
    """
    loaded = await asyncio.to_thread(load_model, settings)
    recognizer = loaded.recognizer()
    options = DetectOptions(max_faces=args.max_faces, min_face_size=args.min_face_size)
    async with standalone_analyzer(recognizer, settings) as analyzer:
        began = time.perf_counter()
        with VideoReader(args.input, every=args.every) as reader, _frame_sink(reader, args) as on_frame:
            timeline = await analyse_video(reader, analyzer, options, on_frame, allow_truncated=True)
        return timeline, time.perf_counter() - began


@contextmanager
def _frame_sink(reader: VideoReader, args: argparse.Namespace) -> Iterator[FrameCallback]:
    """What happens to each analysed frame: the progress bar, and the annotated video if asked for."""
    info = reader.info
    fps = info.fps / reader.every if info.fps else 10.0
    annotated = AnnotatedVideo(args.annotated, fps, info.width, info.height) if args.annotated else None
    with tqdm(total=reader.planned_frames, unit="frame", desc=args.input.name, file=sys.stderr) as progress:

        def on_frame(frame: SampledFrame, rows: list[TimelineRow]) -> None:
            progress.update(1)
            if annotated is not None:
                annotated.write(frame, rows)

        try:
            yield on_frame
        finally:
            if annotated is not None:
                annotated.close()


def report(timeline: VideoTimeline, seconds: float) -> str:
    """One line on what was found and how fast, e.g. for docs/video.md."""
    tracks = ", ".join(f"#{t.track_id} {t.emotion} {t.first_s:.1f}-{t.last_s:.1f} s" for t in timeline.tracks())
    speed = timeline.sampled_frames / seconds if seconds > 0 else 0.0
    return (
        f"{timeline.sampled_frames} frames analysed in {seconds:.1f} s ({speed:.1f} frames/s), "
        f"{len(timeline.rows)} rows, tracks: {tracks or 'none'}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        timeline, seconds = asyncio.run(analyse_file(args, Settings()))
    except VideoError as exc:
        print(f"error: {args.input}: {exc.detail}", file=sys.stderr)
        return 2
    except (ModelLoadError, DetectorLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(timeline.to_csv())
    if args.plot:
        save_timeline_plot(timeline, args.plot, title=f"{args.input.name}: emotions over time")
    if timeline.truncated:
        print(f"warning: {args.input} looks truncated: only {timeline.decoded_frames} frames read", file=sys.stderr)
    print(f"{args.input}: {report(timeline, seconds)}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
