"""The timeline plot draws every track, also one seen once or with gaps; the extra's install hint."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from service.faces.detector import Box
from service.inference import FacePrediction
from service.video.plot import COLORS, INSTALL_HINT, timeline_figure
from service.video.reader import VideoInfo
from service.video.timeline import TimelineRow, VideoTimeline

LABELS = ("happy", "sad")
pytest.importorskip("matplotlib", reason="the video extra (make install-dev has it)")


def row(frame: int, track_id: int, happy: float) -> TimelineRow:
    face = FacePrediction(Box(10, 5, 40, 40), {"happy": happy, "sad": 1 - happy})
    return TimelineRow(frame, frame / 10, track_id, face)


def happy_pixels(rows: list[TimelineRow]) -> int:
    """Pixels of the happy colour inside the track's panel (not its legend), 10 fps, every frame sampled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    timeline = VideoTimeline(VideoInfo(320, 160, 10.0, 100), LABELS, 1, 100, 100, rows)
    figure = timeline_figure(timeline)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    panel = figure.axes[0].get_window_extent()
    top, bottom = pixels.shape[0] - int(panel.y1), pixels.shape[0] - int(panel.y0)  # display y runs upwards
    inside = pixels[top:bottom, int(panel.x0) : int(panel.x1)]
    target = np.array([int(COLORS["happy"][i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(inside - target).sum(axis=-1) < 40).sum())


def test_plot_draws_a_track_seen_in_one_frame() -> None:
    assert happy_pixels([row(5, 1, 0.9)]) > 5


def test_plot_draws_a_track_whose_points_are_all_separated_by_gaps() -> None:
    single = happy_pixels([row(5, 1, 0.9)])
    assert happy_pixels([row(0, 1, 0.9), row(30, 1, 0.9), row(60, 1, 0.9)]) > 2 * single


def test_video_cli_without_matplotlib_names_the_editable_extra(tmp_path) -> None:  # type: ignore[no-untyped-def]
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00")
    # matplotlib hidden from the import system, as in a service-only install.
    code = (
        "import sys; sys.modules['matplotlib'] = None; from service.video.__main__ import main; "
        f"sys.exit(main([{str(clip)!r}, '--out', 'x.csv', '--plot', 'p.png']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert INSTALL_HINT in done.stderr and "pip install -e '.[video]'" in done.stderr
