"""service.video.pipeline: a video through the shared analyzer, tracked, within the in-flight limit."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from service.analysis import ImageAnalyzer
from service.batching import QueueFullError
from service.inference import EmotionRecognizer
from service.settings import Settings
from service.video.pipeline import FRAMES_IN_FLIGHT, analyse_video, standalone_analyzer, video_jobs_limit
from service.video.reader import SampledFrame, VideoError, VideoReader
from service.video.timeline import TimelineRow, VideoTimeline

Analyse = Callable[[ImageAnalyzer], Awaitable[Any]]


def run_with_analyzer(recognizer: EmotionRecognizer, test: Analyse) -> Any:
    """Run ``test`` with an analyzer built as the app builds it, in a fresh event loop."""

    async def main() -> Any:
        async with standalone_analyzer(recognizer, Settings()) as analyzer:
            return await test(analyzer)

    return asyncio.run(main())


def as_dicts(timeline: VideoTimeline) -> list[dict[str, Any]]:
    return [
        {**asdict(r.box), "frame": r.frame, "track_id": r.track_id, "emotion": r.face.emotion} for r in timeline.rows
    ]


def analyse_file(recognizer: EmotionRecognizer, path: Path, every: int = 1, **kwargs: Any) -> VideoTimeline:
    async def test(analyzer: ImageAnalyzer) -> VideoTimeline:
        with VideoReader(path, every=every) as reader:
            return await analyse_video(reader, analyzer, **kwargs)

    timeline: VideoTimeline = run_with_analyzer(recognizer, test)
    return timeline


def test_analyse_video_follows_the_planted_expressions(recognizer, planted_clip, assert_follows_planted) -> None:
    timeline = analyse_file(recognizer, planted_clip.path)
    assert (timeline.sampled_frames, timeline.decoded_frames, timeline.every) == (24, 24, 1)
    assert timeline.labels == tuple(recognizer.labels)
    assert_follows_planted(as_dicts(timeline))
    assert [row.time_s for row in timeline.rows] == pytest.approx([row.frame / 10 for row in timeline.rows])


def test_analyse_video_samples_every_nth_frame(recognizer, planted_clip, assert_follows_planted) -> None:
    timeline = analyse_file(recognizer, planted_clip.path, every=2)
    assert (timeline.sampled_frames, timeline.decoded_frames) == (12, 24)
    assert {row.frame for row in timeline.rows} <= set(range(0, 24, 2))
    assert_follows_planted(as_dicts(timeline))


def test_analyse_video_keeps_at_most_frames_in_flight_images_in_the_pipeline(recognizer, planted_clip) -> None:
    seen: list[int] = []

    async def test(analyzer: ImageAnalyzer) -> None:
        def on_frame(frame: SampledFrame, rows: list[TimelineRow]) -> None:
            seen.append(analyzer.in_flight.running)

        with VideoReader(planted_clip.path) as reader:
            await analyse_video(reader, analyzer, on_frame=on_frame)
        assert analyzer.in_flight.running == 0

    run_with_analyzer(recognizer, test)
    assert len(seen) == 24 and max(seen) <= FRAMES_IN_FLIGHT


def test_analyse_video_refuses_when_images_fill_the_pipeline(recognizer, planted_clip) -> None:
    async def test(analyzer: ImageAnalyzer) -> None:
        held = [analyzer.in_flight.acquire() for _ in range(analyzer.in_flight.capacity)]  # as if /predict held all
        with VideoReader(planted_clip.path) as reader, pytest.raises(QueueFullError):
            await analyse_video(reader, analyzer)
        assert analyzer.in_flight.running == analyzer.in_flight.capacity  # nothing leaked
        for slot in held:
            slot.drop()

    run_with_analyzer(recognizer, test)


def test_analyse_video_refuses_a_truncated_video_unless_allowed(recognizer, planted_clip, tmp_path: Path) -> None:
    from tests.support.synthetic import write_video

    with VideoReader(planted_clip.path) as reader:
        frames = [frame.bgr for frame in reader.frames()]
    avi = write_video(tmp_path / "planted.avi", frames, fps=10)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])
    with pytest.raises(VideoError) as refused:
        analyse_file(recognizer, cut)
    assert refused.value.status_code == 400 and "declares 24 frames" in refused.value.detail
    partial = analyse_file(recognizer, cut, allow_truncated=True)
    assert 0 < partial.decoded_frames < 24 and partial.truncated


def test_video_jobs_refuses_one_more_than_the_limit() -> None:
    jobs = video_jobs_limit(1)
    with jobs.slot():
        with pytest.raises(QueueFullError, match="1 videos are already being analysed"), jobs.slot():
            pass
        assert jobs.running == 1
    assert jobs.running == 0
