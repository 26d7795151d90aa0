"""WebSocket /stream: per-frame replies, latest-frame-wins dropping, smoothing, errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.faces.detector import Box


def test_stream_frames_replies_to_a_frame_with_its_faces(client: TestClient, astronaut_path: Path) -> None:
    with client.websocket_connect("/stream") as ws:
        ws.send_bytes(astronaut_path.read_bytes())
        reply = ws.receive_json()
    assert set(reply) == {"frame_id", "faces", "latency_ms", "dropped", "image"}
    assert (reply["frame_id"], reply["dropped"]) == (1, 0)
    assert reply["image"] == {"width": 384, "height": 384}
    [face] = reply["faces"]
    assert Box(**face["box"]).iou(Box(133, 50, 71, 71)) > 0.8
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert reply["latency_ms"] > 0


def test_stream_frames_drops_stale_frames_of_a_fast_client(client: TestClient, astronaut_path: Path) -> None:
    frames = 20
    with client.websocket_connect("/stream") as ws:
        for _ in range(frames):  # all at once: far faster than frames are processed
            ws.send_bytes(astronaut_path.read_bytes())
        replies = [ws.receive_json()]
        while replies[-1]["frame_id"] < frames:  # the newest frame is never dropped
            replies.append(ws.receive_json())
    assert len(replies) < frames
    assert replies[-1]["dropped"] > 0
    assert replies[-1]["dropped"] == frames - len(replies)
    assert [r["frame_id"] for r in replies] == sorted(r["frame_id"] for r in replies)


def test_stream_frames_reports_an_undecodable_frame_and_stays_open(client: TestClient, astronaut_path: Path) -> None:
    with client.websocket_connect("/stream") as ws:
        ws.send_bytes(b"\x00\x9f\x13\x88" * 64)
        error = ws.receive_json()
        ws.send_bytes(astronaut_path.read_bytes())
        reply = ws.receive_json()
    assert error["frame_id"] == 1 and error["status"] == 400 and error["error"]
    assert reply["frame_id"] == 2 and len(reply["faces"]) == 1


def test_stream_frames_answers_a_bad_control_message_with_an_error(client: TestClient) -> None:
    with client.websocket_connect("/stream") as ws:
        ws.send_text("{not json")
        assert "not JSON" in ws.receive_json()["error"]
        ws.send_text('{"smoothing": "sometimes"}')
        assert "smoothing" in ws.receive_json()["error"]


def test_stream_frames_smooths_probabilities_across_frames(make_client, astronaut_path: Path) -> None:
    """With smoothing and alpha 0.5, frame 2's face is the mean of the two frames' predictions."""
    first = astronaut_path.read_bytes()
    image = cv2.imread(str(astronaut_path))
    second = cv2.imencode(".png", cv2.convertScaleAbs(image, alpha=0.6, beta=40))[1].tobytes()
    # Every frame searched whole, so each stream frame gets the same box as its /predict.
    with make_client(stream_follow_faces=False) as client, client.websocket_connect("/stream") as ws:
        raw = [client.post("/predict", files={"file": ("f.png", f)}).json()["faces"][0] for f in (first, second)]
        ws.send_text('{"smoothing": true, "alpha": 0.5}')
        ws.send_bytes(first)
        ws.receive_json()
        ws.send_bytes(second)
        [smoothed] = ws.receive_json()["faces"]
    assert Box(**smoothed["box"]).iou(Box(**raw[1]["box"])) > 0.5
    expected = {k: (raw[0]["probabilities"][k] + raw[1]["probabilities"][k]) / 2 for k in raw[0]["probabilities"]}
    assert smoothed["probabilities"] == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(list(raw[0]["probabilities"].values()), list(raw[1]["probabilities"].values()))


def test_stream_frames_honours_max_faces_from_a_control_message(
    client: TestClient, multi_face_image: tuple[bytes, list[Box]]
) -> None:
    with client.websocket_connect("/stream") as ws:
        ws.send_text('{"max_faces": 2}')
        ws.send_bytes(multi_face_image[0])
        assert len(ws.receive_json()["faces"]) == 2


def test_stream_frames_gives_each_face_a_track_id_that_follows_it(
    client: TestClient, multi_face_image: tuple[bytes, list[Box]]
) -> None:
    data, _ = multi_face_image
    with client.websocket_connect("/stream") as ws:
        replies = []
        for _ in range(2):  # one frame at a time, so neither is dropped
            ws.send_bytes(data)
            replies.append(ws.receive_json())
    first, second = ({face["box"]["x"] // 100: face["track_id"] for face in r["faces"]} for r in replies)
    assert sorted(first.values()) == [1, 2, 3]
    assert second == first  # the same face (by position) keeps its id


def test_stream_frames_switches_the_detector_from_a_control_message(client: TestClient, astronaut_path: Path) -> None:
    with client.websocket_connect("/stream") as ws:
        ws.send_bytes(astronaut_path.read_bytes())
        [haar] = ws.receive_json()["faces"]
        ws.send_text('{"detector": "blazeface"}')
        ws.send_bytes(astronaut_path.read_bytes())
        [blazeface] = ws.receive_json()["faces"]
    assert haar["landmarks"] is None
    assert set(blazeface["landmarks"]) >= {"right_eye", "left_eye"}
