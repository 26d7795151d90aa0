"""python -m service.video: CSV rows that follow the planted expressions, the plot and the annotated video."""

import csv
from pathlib import Path

import cv2
import pytest

from service.video.__main__ import main
from service.video.reader import VideoReader


@pytest.fixture(autouse=True)
def _committed_model(monkeypatch: pytest.MonkeyPatch, make_settings) -> None:
    """The CLI reads FER_* settings like the server: point them at the committed model, one thread."""
    settings = make_settings()
    monkeypatch.setenv("FER_MODEL_STORE", str(settings.model_store))
    monkeypatch.setenv("FER_ORT_INTRA_OP_THREADS", "1")


def test_main_writes_rows_plot_and_annotated_video(
    planted_clip, assert_follows_planted, tmp_path: Path, capsys
) -> None:
    out, plot, annotated = tmp_path / "emotions.csv", tmp_path / "timeline.png", tmp_path / "annotated.mp4"
    argv = [str(planted_clip.path), "--out", str(out), "--plot", str(plot), "--annotated", str(annotated)]
    assert main(argv) == 0

    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:9] == ["frame", "time_s", "track_id", "x", "y", "w", "h", "emotion", "confidence"]
    assert list(rows[0])[9:] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert_follows_planted(rows)
    assert "24 frames analysed" in capsys.readouterr().out

    picture = cv2.imread(str(plot))
    assert picture is not None and picture.shape[0] > picture.shape[1] / 3  # two track panels, stacked
    with VideoReader(annotated) as reader:
        frames = list(reader.frames())
    assert (reader.info.width, reader.info.height, len(frames)) == (320, 160, 24)
    original = next(VideoReader(planted_clip.path).frames())
    assert cv2.absdiff(frames[0].bgr, original.bgr).max() > 100  # boxes and labels were drawn


def test_main_with_every_analyses_fewer_frames(planted_clip, assert_follows_planted, tmp_path: Path) -> None:
    out = tmp_path / "emotions.csv"
    assert main([str(planted_clip.path), "--out", str(out), "--every", "3"]) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert {int(r["frame"]) for r in rows} <= set(range(0, 24, 3))
    assert_follows_planted(rows)


def test_main_reports_an_unreadable_video_with_status_2(tmp_path: Path, capsys) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    assert main([str(text), "--out", str(tmp_path / "e.csv")]) == 2
    assert "not a readable video" in capsys.readouterr().err
    assert not (tmp_path / "e.csv").exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ([], "no such file"),
        (["--every", "0"], "--every must be at least 1"),
        (["--annotated", "x.gif"], "write one of"),
    ],
)
def test_main_refuses_bad_arguments_before_loading_the_model(
    planted_clip, tmp_path: Path, capsys, extra: list[str], words: str
) -> None:
    video = str(tmp_path / "missing.mp4") if not extra else str(planted_clip.path)
    with pytest.raises(SystemExit) as exited:
        main([video, "--out", str(tmp_path / "e.csv"), *extra])
    assert exited.value.code == 2 and words in capsys.readouterr().err
