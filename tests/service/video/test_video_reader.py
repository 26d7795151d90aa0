"""service.video.reader: what a video declares, which frames come out, and the 400/413/415 checks."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.video.reader import VideoError, VideoLimits, VideoReader, check_upload
from tests.support.synthetic import write_video


def numbered_frames(count: int) -> list[np.ndarray]:
    """64x48 BGR frames whose brightness encodes their index (8 levels apart, survives compression)."""
    return [np.full((48, 64, 3), 8 * i, np.uint8) for i in range(count)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 30 frames at 10 fps in each container the writer knows."""
    folder = tmp_path_factory.mktemp("clips")
    return {s: write_video(folder / f"clip{s}", numbered_frames(30), fps=10) for s in (".mp4", ".webm", ".avi")}


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".avi"])
def test_reader_probes_size_rate_and_length(clips: dict[str, Path], suffix: str) -> None:
    with VideoReader(clips[suffix]) as reader:
        info = reader.info
        frames = list(reader.frames())
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, 10.0, 30)
    assert info.duration_s == pytest.approx(3.0)
    assert len(frames) == 30 and reader.decoded == 30 and not reader.truncated


def test_frames_yields_every_nth_frame_with_its_timestamp(clips: dict[str, Path]) -> None:
    with VideoReader(clips[".avi"], every=7) as reader:
        frames = list(reader.frames())
    assert [f.index for f in frames] == [0, 7, 14, 21, 28]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.7, 1.4, 2.1, 2.8])
    assert [round(float(f.gray.mean()) / 8) for f in frames] == [0, 7, 14, 21, 28]  # the right pixels, too
    assert reader.planned_frames == 5 and reader.decoded == 30


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (VideoLimits(max_duration_s=2.5), "lasts 3.0 s, more than the 2.5 s allowed"),
        (VideoLimits(max_frames=29), "has 30 frames, more than the 29 allowed"),
        (VideoLimits(max_pixels=64 * 48 - 1), "frames are 64x48, more than the 3071 pixels allowed"),
    ],
)
def test_reader_refuses_a_video_over_a_limit_before_decoding(
    clips: dict[str, Path], limits: VideoLimits, message: str
) -> None:
    with pytest.raises(VideoError) as refused:
        VideoReader(clips[".mp4"], limits)
    assert refused.value.status_code == 413 and message in refused.value.detail


def test_frames_enforces_the_limits_while_decoding_a_video_of_unknown_length(tmp_path: Path) -> None:
    # Raw MJPEG declares no length, so only decoding finds out how long it is (as with a lying header).
    raw = tmp_path / "raw.mjpeg"
    raw.write_bytes(b"".join(cv2.imencode(".jpg", frame)[1].tobytes() for frame in numbered_frames(30)))
    with VideoReader(raw, VideoLimits(max_frames=10)) as reader:
        assert reader.info.frame_count == 0
        with pytest.raises(VideoError) as refused:
            list(reader.frames())
    assert refused.value.status_code == 413 and reader.decoded == 11


def test_reader_flags_a_truncated_video(clips: dict[str, Path], tmp_path: Path) -> None:
    half = tmp_path / "half.avi"
    data = clips[".avi"].read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with VideoReader(half) as reader:
        frames = list(reader.frames())
    assert reader.info.frame_count == 30 and 0 < len(frames) < 20 and reader.truncated


def test_reader_refuses_a_container_it_cannot_open(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8)
    with pytest.raises(VideoError) as refused:
        VideoReader(broken)
    assert refused.value.status_code == 400 and "corrupt or truncated" in refused.value.detail


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".avi"])
def test_check_upload_accepts_the_video_containers(clips: dict[str, Path], suffix: str) -> None:
    check_upload(clips[suffix].read_bytes()[:16], "video/whatever")


@pytest.mark.parametrize(
    ("head", "content_type", "status", "words"),
    [
        (b"", None, 400, "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "application/octet-stream", 415, "this is an image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", None, 415, "this is an image"),
        (b"hello, this is plain text", None, 415, "not a recognised video"),
        (b"#EXTM3U\n#EXT-X-VERSION:3", None, 415, "not a recognised video"),  # a playlist must never reach FFmpeg
        (b"\x00\x00\x00\x18ftypisom", "text/plain", 415, "unsupported media type text/plain"),
    ],
)
def test_check_upload_refuses_what_is_not_a_video(
    head: bytes, content_type: str | None, status: int, words: str
) -> None:
    with pytest.raises(VideoError) as refused:
        check_upload(head, content_type)
    assert refused.value.status_code == status and words in refused.value.detail
