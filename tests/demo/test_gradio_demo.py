"""The optional Gradio demo (``.[demo]``): it starts, and answers through its own API."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from .conftest import FACE_PHOTO, NO_FACE_PHOTO, demo_settings, free_port

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from service.demo_gradio import DemoPipeline, build_demo, load_recognizer  # noqa: E402  (needs gradio)


@pytest.fixture(scope="module")
def pipeline() -> DemoPipeline:
    settings = demo_settings()
    return DemoPipeline(load_recognizer(settings), settings)


@pytest.fixture(scope="module")
def demo_url(pipeline: DemoPipeline):
    demo = build_demo(pipeline)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_gradio_app_serves_and_answers_a_batch(demo_url: str) -> None:
    assert httpx.get(demo_url, timeout=10).status_code == 200
    client = gradio_client.Client(demo_url, verbose=False)
    files = [gradio_client.handle_file(str(FACE_PHOTO)), gradio_client.handle_file(str(NO_FACE_PHOTO))]
    gallery, table, status = client.predict(files, api_name="/analyse")

    assert len(gallery) == 2, status
    assert "2 image(s) analysed, 1 face(s) found" in status
    rows = table["data"]
    assert len(rows) == 1 and rows[0][0] == FACE_PHOTO.name
    assert rows[0][2] in table["headers"][4:]  # the emotion is one of the label columns
    assert sum(rows[0][4:]) == pytest.approx(1.0, abs=0.01)


def test_webcam_frame_gives_bars_for_all_labels(pipeline: DemoPipeline) -> None:
    import cv2

    rgb = cv2.cvtColor(cv2.imread(str(FACE_PHOTO)), cv2.COLOR_BGR2RGB)
    annotated, bars, summary, smoother = pipeline.analyse_frame(rgb, smoothing=True)
    assert annotated is not None and annotated.shape == rgb.shape
    assert not np.array_equal(annotated, rgb)  # a box was drawn
    assert bars is not None and set(bars) == set(pipeline.recognizer.labels)
    assert summary.startswith("1 face(s)")
    # The smoother carries over: a second identical frame blends to the same bars.
    _, again, _, _ = pipeline.analyse_frame(rgb, smoothing=True, smoother=smoother)
    assert again == pytest.approx(bars)


def test_webcam_frame_without_face_says_so(pipeline: DemoPipeline) -> None:
    empty = np.full((240, 320, 3), 127, np.uint8)
    _, bars, summary, _ = pipeline.analyse_frame(empty)
    assert bars is None and summary.startswith("No face found")
