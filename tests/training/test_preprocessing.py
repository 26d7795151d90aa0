"""The shared preprocessing contract."""

from __future__ import annotations

import numpy as np

from service.preprocessing import PreprocessConfig, preprocess_face, to_model_input


def test_preprocess_face_resizes_color_crop_to_48x48_uint8():
    crop = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    face = preprocess_face(crop, PreprocessConfig())
    assert face.shape == (48, 48) and face.dtype == np.uint8


def test_preprocess_face_clahe_stretches_low_contrast_face():
    flat = (np.arange(48 * 48).reshape(48, 48) % 20 + 100).astype(np.uint8)
    out = preprocess_face(flat, PreprocessConfig())
    assert np.ptp(out) > np.ptp(flat)
    assert np.array_equal(preprocess_face(flat, PreprocessConfig(clahe_clip_limit=0)), flat)


def test_to_model_input_scales_to_unit_range_nhwc():
    x = to_model_input(np.full((2, 48, 48), 255, np.uint8), PreprocessConfig())
    assert x.shape == (2, 48, 48, 1) and x.dtype == np.float32 and x.max() == 1.0


def test_preprocess_config_round_trips_through_metadata():
    cfg = PreprocessConfig(clahe_clip_limit=3.0, clahe_tile_grid=6)
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
