"""POST /predict/video: JSON or CSV rows that follow the planted expressions; limits and bad input are 4xx."""

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def post_video(client: TestClient, data: bytes, name: str = "clip.mp4", **kwargs: Any) -> Any:
    return client.post("/predict/video", files={"file": (name, data, "video/mp4")}, **kwargs)


def flat(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, **row["box"]}


def test_predict_video_answers_json_rows_that_follow_the_planted_expressions(
    client: TestClient, planted_clip, assert_follows_planted
) -> None:
    response = post_video(client, planted_clip.path.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "fer_cnn_snap", "version": "1.0.0-int8"}  # the newest release's int8 variant
    video = body["video"]
    assert (video["width"], video["height"], video["fps"], video["frames"], video["sampled_frames"]) == (
        320, 160, 10.0, 24, 24,
    )  # fmt: skip
    assert_follows_planted([flat(row) for row in body["rows"]])
    row = body["rows"][0]
    assert list(row["probabilities"]) == LABELS and sum(row["probabilities"].values()) == pytest.approx(1.0)
    assert row["emotion"] == max(row["probabilities"], key=row["probabilities"].get)
    tracks = {track["track_id"]: track for track in body["tracks"]}
    assert len(tracks) == 2 and all(track["frames"] >= 18 for track in tracks.values())
    assert planted_clip.steady in {track["emotion"] for track in tracks.values()}


def test_predict_video_answers_csv_when_the_client_asks_for_it(
    client: TestClient, planted_clip, assert_follows_planted
) -> None:
    response = post_video(client, planted_clip.path.read_bytes(), params={"every": 2}, headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["frame", "time_s", "track_id", "x", "y", "w", "h", "emotion", "confidence", *LABELS]
    assert {int(r["frame"]) for r in rows} <= set(range(0, 24, 2))
    assert_follows_planted(rows)


def test_predict_video_accepts_a_video_larger_than_the_image_body_limit(make_client, planted_clip) -> None:
    data = planted_clip.path.read_bytes()
    with make_client(max_body_bytes=len(data) // 2) as client:
        assert post_video(client, data).status_code == 200
        image = client.post("/predict", files={"file": ("big.png", data, "image/png")})
        assert image.status_code == 413  # other routes keep FER_MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ({"max_video_bytes": 4096}, "larger than the 4096 bytes allowed"),
        ({"max_video_duration_s": 2.0}, "lasts 2.4 s, more than the 2 s allowed"),
        ({"max_video_frames": 20}, "has 24 frames, more than the 20 allowed"),
        ({"max_pixels": 320 * 160 - 1}, "frames are 320x160"),
    ],
)
def test_predict_video_refuses_a_video_over_a_limit_with_413(
    make_client, planted_clip, setting: dict[str, int], words: str
) -> None:
    with make_client(**setting) as client:
        response = post_video(client, planted_clip.path.read_bytes())
    assert response.status_code == 413, response.text
    assert words in response.json()["detail"]


def test_predict_video_keeps_at_most_max_video_faces_per_frame(make_client, planted_clip) -> None:
    with make_client(max_video_faces=1) as client:
        response = post_video(client, planted_clip.path.read_bytes(), params={"max_faces": 5})
    frames = [row["frame"] for row in response.json()["rows"]]
    assert response.status_code == 200 and len(frames) == len(set(frames)) == 24


def truncated_avi(planted_clip, folder: Path) -> bytes:
    from service.video.reader import VideoReader
    from tests.support.synthetic import write_video

    with VideoReader(planted_clip.path) as reader:
        avi = write_video(folder / "clip.avi", [frame.bgr for frame in reader.frames()], fps=10).read_bytes()
    return avi[: len(avi) // 2]


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("photo.png", 415, "this is an image"),
        ("notes.txt", 415, "not a recognised video"),
        ("empty.mp4", 400, "empty file"),
        ("corrupt.mp4", 400, "corrupt or truncated"),
        ("truncated.avi", 400, "truncated video"),
    ],
)
def test_predict_video_refuses_bad_input_with_a_clear_4xx(
    client: TestClient, planted_clip, astronaut_path: Path, tmp_path: Path, name: str, status: int, words: str
) -> None:
    data = {
        "photo.png": astronaut_path.read_bytes(),
        "notes.txt": b"just some text, not a video\n" * 10,
        "empty.mp4": b"",
        "corrupt.mp4": b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8,
        "truncated.avi": truncated_avi(planted_clip, tmp_path) if name == "truncated.avi" else b"",
    }[name]
    response = post_video(client, data, name=name)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_predict_video_answers_503_while_max_video_jobs_run(make_client, planted_clip) -> None:
    with make_client(max_video_jobs=1) as client:
        jobs = client.app.state.video_jobs
        with jobs.slot():  # as if another upload were being analysed
            busy = post_video(client, planted_clip.path.read_bytes())
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert "1 videos are already being analysed" in busy.json()["detail"]
        assert post_video(client, planted_clip.path.read_bytes()).status_code == 200


def test_openapi_documents_the_video_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    video = schema["paths"]["/predict/video"]["post"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(video["responses"])
    assert "text/csv" in video["responses"]["200"]["content"]
    assert {"every", "max_faces", "min_face_size"} <= {p["name"] for p in video["parameters"]}
    assert schema["components"]["schemas"]["TimelineRowOut"]["properties"]["track_id"]["examples"] == [1]
