"""service.settings: one BaseSettings class read from FER_* variables."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_settings_defaults_match_the_documented_values() -> None:
    settings = Settings()
    assert settings.model_store == Path("model_store")
    assert (settings.model_name, settings.model_version, settings.model_variant) == ("fer_cnn_snap", "latest", "int8")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.max_batch_size, settings.max_wait_ms, settings.max_queue) == (32, 5.0, 256)
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.max_pixels == 25_000_000
    assert (settings.detect_scale_factor, settings.detect_min_neighbors, settings.detect_min_face) == (1.2, 5, 40)
    assert (settings.detect_max_side, settings.detect_max_downscale) == (288, 4)
    assert settings.detect_cascade == "haarcascade_frontalface_alt2.xml"
    assert (settings.log_format, settings.graceful_shutdown_s) == ("text", 20)


def test_settings_read_fer_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FER_PORT", "9001")
    monkeypatch.setenv("FER_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("FER_MODEL_VERSION", "0.0.1")
    monkeypatch.setenv("FER_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("FER_LOG_FORMAT", "JSON")
    monkeypatch.setenv("FER_GRACEFUL_SHUTDOWN_S", "5")
    settings = Settings()
    assert (settings.port, settings.max_batch_size, settings.model_version) == (9001, 8, "0.0.1")
    assert (settings.log_level, settings.log_format, settings.graceful_shutdown_s) == ("debug", "json", 5)
    assert settings.max_wait_s == pytest.approx(0.005)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FER_PORT", "abc"),
        ("FER_PORT", "70000"),
        ("FER_MAX_BATCH_SIZE", "0"),
        ("FER_DETECT_SCALE_FACTOR", "1.0"),
        ("FER_LOG_FORMAT", "xml"),
        ("FER_GRACEFUL_SHUTDOWN_S", "0"),
    ],
)
def test_settings_reject_invalid_values(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


LIMITS = [
    "max_body_bytes",
    "max_pixels",
    "max_batch_files",
    "max_form_fields",
    "max_faces",
    "decode_budget_mb",
    "decode_wait_s",
    "max_in_flight",
    "max_queue",
    "max_connections",
    "header_timeout_s",
    "max_header_bytes",
    "max_headers",
    "max_image_side",
    "ws_allowed_hosts",
    "stream_idle_timeout_s",
    "stream_control_max_bytes",
    "stream_control_max_keys",
    "body_timeout_s",
    "max_streams",
    "ws_allowed_origins",
    "exit_on_worker_death",
    "max_video_bytes",
    "max_video_duration_s",
    "max_video_frames",
    "max_video_faces",
    "max_video_jobs",
]


CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented_rows(text: str) -> dict[str, str]:
    """``FER_X`` -> default, from the settings tables' rows (``| `FER_A` / `FER_B` | `1` / `2` |`` gives both)."""
    rows = [line.split("|")[1:3] for line in text.splitlines() if line.startswith("| `FER_")]
    documented = {}
    for names, defaults in rows:
        pairs = zip(names.split(" / "), defaults.split(" / "), strict=False) if " / " in names else [(names, defaults)]
        documented.update({name.strip(" `"): default.strip(" `") for name, default in pairs})
    return documented


def readme_hardening_defaults() -> dict[str, str]:
    """``FER_X`` -> default, from the table of the Hardening section of docs/configuration.md."""
    text = CONFIGURATION.read_text()
    section = text.split("\n## Hardening\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `FER_")]
    return {name.strip(" `"): default.strip(" `") for name, default in rows}


def test_settings_every_limit_is_documented_with_its_default() -> None:
    documented = readme_hardening_defaults()
    for name in LIMITS:
        default = Settings.model_fields[name].get_default(call_default_factory=True)
        shown = json.dumps(default) if isinstance(default, (list, bool)) else f"{default:.15g}"
        assert documented.get(f"FER_{name.upper()}") == shown, name


def test_settings_video_limits_have_safe_defaults_and_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.max_video_bytes, settings.max_video_duration_s) == (50 * 1024 * 1024, 120.0)
    assert (settings.max_video_frames, settings.max_video_faces, settings.max_video_jobs) == (7200, 8, 2)
    monkeypatch.setenv("FER_MAX_VIDEO_DURATION_S", "30")
    monkeypatch.setenv("FER_MAX_VIDEO_JOBS", "1")
    assert (Settings().max_video_duration_s, Settings().max_video_jobs) == (30.0, 1)


@pytest.mark.parametrize(
    "name",
    [
        "FER_MAX_VIDEO_BYTES",
        "FER_MAX_VIDEO_DURATION_S",
        "FER_MAX_VIDEO_FRAMES",
        "FER_MAX_VIDEO_FACES",
        "FER_MAX_VIDEO_JOBS",
    ],
)
def test_settings_reject_a_video_limit_of_zero(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValidationError):
        Settings()


DETECTOR_SETTINGS = [
    "detector",
    "blazeface_range",
    "blazeface_min_score",
    "blazeface_nms_iou",
    "blazeface_threads",
    "blazeface_tile_grid",
    "align_faces",
    "frame_crops",
    "stream_follow_faces",
    "stream_full_detect_every",
    "stream_follow_margin",
]


def test_settings_detector_settings_are_documented_with_their_defaults() -> None:
    documented = documented_rows(CONFIGURATION.read_text())
    for name in DETECTOR_SETTINGS:
        default = Settings.model_fields[name].get_default()
        shown = (
            json.dumps(default)
            if isinstance(default, bool)
            else f"{default:.15g}"
            if not isinstance(default, str)
            else default
        )
        assert documented.get(f"FER_{name.upper()}") == shown, name
    assert Settings().detector == "haar"  # Haar stays the default detector


def test_settings_every_field_has_a_row_in_the_configuration_page() -> None:
    documented = documented_rows(CONFIGURATION.read_text())
    missing = [f"FER_{name.upper()}" for name in Settings.model_fields if f"FER_{name.upper()}" not in documented]
    assert missing == []
    assert documented["FER_MODEL_VARIANT"] == Settings().model_variant == "int8"
