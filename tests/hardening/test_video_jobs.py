"""Video jobs: cancelled when their client leaves, their memory within the decode budget (issue 27)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import cv2
import httpx
import pytest

from bench.server import service_process
from service.settings import Settings
from service.video.reader import video_pixel_limit

from .helpers import ASTRONAUT, Gates, serve_in_thread, wait_until
from .videos import mjpeg_avi, smooth_frames, video_upload

MIB_KIB = 1024


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    opened = Gates(monkeypatch)
    yield opened
    opened.open_all()


def astronaut_clip(frames: int) -> bytes:
    photo = cv2.imread(str(ASTRONAUT))
    assert photo is not None
    return mjpeg_avi([photo] * frames)


def test_video_job_is_cancelled_and_logged_499_when_its_client_leaves(
    gates: Gates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fer.access")
    clip = astronaut_clip(40)
    with serve_in_thread(max_video_jobs=1) as (base_url, app):
        port = int(base_url.rsplit(":", 1)[1])
        gate = gates.close("inference")  # the first frame's faces wait here
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(video_upload(port, clip))
            wait_until(lambda: gate.waiting == 1)
        # Gone while its first frame is classified: the job stops although that frame is still held.
        wait_until(lambda: app.state.video_jobs.running == 0, timeout=10)
        assert gate.waiting == 1
        gates.open_all()
        second = httpx.post(f"{base_url}/predict/video", files={"file": ("c.avi", astronaut_clip(2))}, timeout=60)
    assert second.status_code == 200 and second.json()["video"]["frames"] == 2
    statuses = [r.status for r in caplog.records if r.name == "fer.access" and r.path == "/predict/video"]  # type: ignore[attr-defined]
    assert statuses == [499, 200]


async def post_videos(base_url: str, videos: list[bytes]) -> list[int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
        responses = await asyncio.gather(
            *(client.post("/predict/video", files={"file": (f"v{i}.avi", v)}) for i, v in enumerate(videos))
        )
    return [r.status_code for r in responses]


def test_concurrent_videos_at_the_pixel_limit_keep_memory_within_the_decode_budget() -> None:
    """The report's two 5000x5000 videos raised peak memory by 1.4 GB against the 512 MB budget.
    Video frames are now limited to a third of FER_MAX_PIXELS (FFmpeg's allocation cap holds
    OpenCV's BGR copy of one): those get 413, and two at the largest accepted size stay in budget."""
    side = int(video_pixel_limit(Settings().max_pixels) ** 0.5)  # 2886 at the default 25 MP
    video, too_large = mjpeg_avi(smooth_frames(side, 8)), mjpeg_avi(smooth_frames(5000, 2))
    with service_process({"FER_ORT_INTRA_OP_THREADS": "1", "FER_DECODE_WAIT_S": "60"}) as service:
        before = service.rss_kib()
        statuses = asyncio.run(post_videos(service.base_url, [video, video]))
        statuses += asyncio.run(post_videos(service.base_url, [too_large]))  # not beside them: 2 jobs at most
        growth = service.peak_rss_kib() - before
        print(f"\ntwo {side}x{side} videos and a 5000x5000 one: {statuses}, peak RSS growth {growth // MIB_KIB} MiB")
        assert statuses == [200, 200, 413]
        assert growth < 640 * MIB_KIB  # the budget (512 MiB) and the uploads themselves
        assert httpx.get(f"{service.base_url}/readyz", timeout=10).status_code == 200


def test_a_frame_that_grows_past_the_pixel_limit_mid_stream_is_not_decoded() -> None:
    """A 120x120 first frame passes every check from the header; the frames after it were decoded
    at their full size (64 MB each at 8000x8000, in FFmpeg) before anybody saw their size."""
    grown = {side: mjpeg_avi(smooth_frames(120, 1) + smooth_frames(side, 5)) for side in (900, 1100, 8000)}
    with service_process({"FER_MAX_PIXELS": "1000000", "FER_ORT_INTRA_OP_THREADS": "1"}) as service:
        before = service.rss_kib()
        answers = {side: post_video(service.base_url, video) for side, video in grown.items()}
        growth = service.peak_rss_kib() - before
    print(f"\n120x120 then larger frames, 1 MP limit: { {k: a.status_code for k, a in answers.items()} }, {growth} KiB")
    assert answers[900].status_code == 200 and answers[900].json()["video"]["frames"] == 6  # within the limit
    for side in (1100, 8000):  # 1.2 MP and 64 MP: past the limit, the video stops at its first frame
        assert answers[side].status_code == 400, answers[side].text
        assert answers[side].json()["detail"].startswith("truncated video: its header declares 6 frames, only 1")
    assert growth < 32 * MIB_KIB  # one 8000x8000 frame alone is 64 MB


def post_video(base_url: str, video: bytes) -> httpx.Response:
    return httpx.post(f"{base_url}/predict/video", files={"file": ("v.avi", video)}, timeout=60)
