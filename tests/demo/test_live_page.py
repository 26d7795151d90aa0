"""The demo page in real headless Chromium against the real service.

The fake webcam plays a Y4M clip of a real face photo. Set FER_DEMO_SCREENSHOT=docs/demo.png
to refresh the README screenshot (off by default so test runs leave the tree clean).
"""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import FACE_PHOTO, NO_FACE_PHOTO, PLANTED, ROOT

# Generous: the first frames wait for the ONNX session and a busy CI CPU.
LIVE_TIMEOUT_MS = 30_000

FIRST_FACE_HAS_7_BARS = """() => {
  const card = document.querySelector('#faces .face-card');
  return card !== null && card.querySelectorAll('.bar').length === 7;
}"""

OVERLAY_HAS_INK = """() => {
  const c = document.getElementById('overlay');
  if (!c.width || !c.height) return false;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < px.length; i += 4) if (px[i] > 0) return true;
  return false;
}"""


def chart_has_ink(selector: str, min_points: int) -> str:
    """JS: the first canvas matching ``selector`` charts ``min_points`` points and has coloured pixels."""
    return f"""() => {{
  const c = document.querySelector({selector!r});
  if (!c || !c.width || Number(c.dataset.points || 0) < {min_points}) return false;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const colourful = (i) => Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 80;
  for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && colourful(i)) return true;
  return false;
}}"""


def open_ready_page(page) -> None:
    page.goto("/")
    page.wait_for_selector("#service-status.ok", timeout=LIVE_TIMEOUT_MS)


def wait_for(page, script: str, what: str, timeout: int = LIVE_TIMEOUT_MS) -> None:
    """wait_for_function with a failure message that shows what the page said."""
    try:
        page.wait_for_function(script, timeout=timeout)
    except Exception as exc:  # Playwright's TimeoutError; add the page's own words
        message = page.text_content("#live-message")
        raise AssertionError(f"timed out waiting for {what}; #live-message says: {message!r}") from exc


def save_screenshot(page) -> None:
    target = os.environ.get("FER_DEMO_SCREENSHOT")
    if target:
        path = ROOT / target
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)


def test_live_webcam_shows_boxes_bars_and_fps(page, planted_video: Path) -> None:
    open_ready_page(page)
    page.click("#start")
    wait_for(page, FIRST_FACE_HAS_7_BARS, "a face card with 7 emotion bars")
    wait_for(page, OVERLAY_HAS_INK, "a box drawn over the video")
    wait_for(page, "() => parseFloat(document.getElementById('fps').textContent) > 0", "FPS above zero")
    assert float(page.text_content("#latency")) >= 0
    assert "face(s) found" in page.text_content("#live-message")
    emotions = page.eval_on_selector_all("#faces .face-card:first-child .bar", "els => els.map(e => e.dataset.emotion)")
    assert emotions == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

    # The README screenshot shows both panels and both timelines, so upload while the camera runs.
    page.set_input_files("#upload-input", [str(planted_video), str(FACE_PHOTO), str(NO_FACE_PHOTO)])
    page.wait_for_selector("#upload-results .result:nth-child(3)", timeout=LIVE_TIMEOUT_MS)
    wait_for(page, chart_has_ink("#timeline canvas", 10), "a live timeline with 10 points")
    save_screenshot(page)
    page.click("#stop")


def test_upload_two_images_shows_two_results(page) -> None:
    open_ready_page(page)
    page.set_input_files("#upload-input", [str(FACE_PHOTO), str(NO_FACE_PHOTO)])
    page.wait_for_selector("#upload-results .result:nth-child(2)", timeout=LIVE_TIMEOUT_MS)
    results = page.query_selector_all("#upload-results .result")
    assert len(results) == 2, page.text_content("#upload-message")

    face, cat = results
    assert Path(FACE_PHOTO).name in face.text_content()
    assert len(face.query_selector_all(".face-card")) == 1
    assert len(face.query_selector_all(".face-card .bar")) == 7
    assert face.query_selector("canvas") is not None
    assert Path(NO_FACE_PHOTO).name in cat.text_content()
    assert "No face found" in cat.text_content()
    assert "2 image(s) analysed" in page.text_content("#upload-message")


def test_refused_camera_explains_itself(page) -> None:
    # Chromium's fake UI always grants; simulate the user saying no.
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => "
        "Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));"
    )
    open_ready_page(page)
    page.click("#start")
    page.wait_for_function("() => /refused/.test(document.getElementById('live-message').textContent)")
    assert page.is_enabled("#start")


def test_not_ready_service_is_reported(page) -> None:
    page.route("**/readyz", lambda route: route.fulfill(status=503, body='{"status":"loading"}'))
    page.goto("/")
    page.wait_for_selector("#service-status.bad")
    assert "not ready" in page.text_content("#service-status")


def test_live_timeline_charts_the_tracked_face(page) -> None:
    open_ready_page(page)
    page.click("#start")
    # A few replies, then the chart of face #1 must show coloured probability lines.
    wait_for(page, chart_has_ink('#timeline .timeline-track[data-track="1"] canvas', 3), "a drawn timeline chart")
    assert page.locator("#timeline .legend span").count() == 7
    assert page.text_content('#timeline .timeline-track[data-track="1"] figcaption').startswith("Face #1: ")
    page.click("#stop")


def test_upload_video_plots_the_planted_expressions(page, planted_video: Path) -> None:
    open_ready_page(page)
    page.set_input_files("#upload-input", str(planted_video))
    page.wait_for_selector("#upload-results .result.video", timeout=LIVE_TIMEOUT_MS)
    card = page.locator("#upload-results .result.video")
    assert "video(s) analysed" in page.text_content("#upload-message"), card.text_content()
    page.wait_for_function(chart_has_ink("#upload-results .result.video canvas", 10))
    captions = card.locator(".timeline-track figcaption").all_text_contents()
    sequences = sorted(caption.split(": ", 1)[1] for caption in captions)  # "Face #1: happy → surprise → angry"
    assert sequences == sorted([" → ".join(PLANTED), "neutral"]), captions
