"""service.faces.framing: each detector's measured framing, read from its card."""

import json
from pathlib import Path

from service.faces.framing import NO_FRAMING, Framing, card_framing, read_card


def test_card_framing_reads_the_measured_framing(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"framing": {"scale_x": 1.2, "scale_y": 1.25, "dx": 0.0, "dy": -0.09}}))
    assert card_framing(read_card(card)) == Framing(1.2, 1.25, 0.0, -0.09)
    assert card_framing(read_card(tmp_path / "missing.json")) == NO_FRAMING


def test_committed_cards_hold_a_framing_for_every_detector() -> None:
    store = Path(__file__).resolve().parents[3] / "model_store" / "face_detectors"
    for name in ("haar", "blazeface_short", "blazeface_full"):
        framing = card_framing(read_card(store / name / "card.json"))
        assert 0.8 < framing.scale_x < 1.6 and abs(framing.dy) < 0.2, name
