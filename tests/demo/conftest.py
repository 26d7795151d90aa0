"""Fixtures for the browser demo: the real service on a free port and headless Chromium.

Chromium is Debian's package (``.ci/run`` installs it), driven by Playwright with
``executable_path`` so no browser is ever downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.loading import load_model
from service.model_store import ModelLoadError, resolve_model_dir
from service.settings import Settings
from tests.support.synthetic import write_planted_clip

from .media import face_clip

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "tests" / "fixtures" / "photos"
FER_SAMPLE = ROOT / "tests" / "fixtures" / "fer2013" / "test"
FACE_PHOTO = PHOTOS / "astronaut.png"  # one face
NO_FACE_PHOTO = PHOTOS / "chelsea.png"  # a cat
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",  # grants the camera without a prompt
    "--use-fake-device-for-media-stream",
]


def newest_model_dir() -> Path:
    """The highest version of the service's default model, by the service's own version order."""
    try:
        return resolve_model_dir(ROOT / "model_store", Settings.model_fields["model_name"].default, "latest")
    except ModelLoadError as exc:
        pytest.fail(f"{exc} (run `make export` or restore the committed model)")


def demo_settings() -> Settings:
    model = newest_model_dir()
    return Settings(model_store=model.parents[1], model_name=model.parent.name, model_version=model.name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base_url: str, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            pytest.fail("the service thread exited during startup; see the log above")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the service at {base_url} was not ready within {timeout:.0f} s")


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """The real FastAPI app with the newest model, served by uvicorn in a thread."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(create_app(demo_settings()), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fer-demo-server", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(base_url, thread)
    yield base_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def webcam_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(FACE_PHOTO, tmp_path_factory.mktemp("webcam") / "face.y4m")


PLANTED = ("happy", "surprise", "angry")  # the left face of the uploaded clip, in this order


@pytest.fixture(scope="session")
def planted_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MP4 of two faces: the left one happy, then surprised, then angry; the right one neutral."""
    import cv2

    loaded = load_model(demo_settings())
    recognizer = loaded.recognizer()
    faces = {}
    for label in (*PLANTED, "neutral"):
        paths = sorted(FER_SAMPLE.glob(f"{label}/*Test_*.jpg"))
        assert paths, f"no FER-2013 sample faces for {label} under {FER_SAMPLE}"
        faces[label] = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    path = tmp_path_factory.mktemp("upload") / "planted.mp4"
    try:
        return write_planted_clip(path, recognizer, faces, PLANTED, "neutral")
    except LookupError as exc:
        pytest.fail(f"cannot plant the test clip: {exc}")


# Module scope: Playwright's sync API keeps an event loop running in the main thread until it
# stops, which would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def browser(webcam_clip: Path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM=...)")
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={webcam_clip}"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server: str):
    """A fresh tab; browser console errors are echoed so a failing test explains itself."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, base_url=live_server)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    tab.on("console", lambda msg: msg.type == "error" and print(f"browser console: {msg.text}"))
    tab.on("pageerror", lambda err: print(f"browser page error: {err}"))
    yield tab
    context.close()
