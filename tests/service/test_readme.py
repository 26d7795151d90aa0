"""The README's quick start, run as written: its curl on the committed photo against a served app.

The answer the README shows must be the one the service gives (timings aside), and the README
stays a user's guide of at most 300 lines.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"


def quick_start() -> str:
    text = README.read_text()
    return text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]


def code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def served(live_server, make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(make_settings()) as (base_url, _app):
        yield base_url


def test_readme_is_at_most_300_lines() -> None:
    assert len(README.read_text().splitlines()) <= 300


def test_readme_quick_start_curl_gives_the_answer_it_shows(served: str) -> None:
    section = quick_start()
    (curl,) = [line for block in code_blocks(section, "bash") for line in block.splitlines() if line.startswith("curl")]
    shown = json.loads(code_blocks(section, "json")[0])
    assert "http://127.0.0.1:8000" in curl and "tests/fixtures/photos/" in curl
    assert shutil.which("curl"), "the quick start is a curl command: install curl"
    command = shlex.split(curl.replace("http://127.0.0.1:8000", served))
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True)
    answer = json.loads(done.stdout)
    assert answer["model"] == shown["model"] and answer["image"] == shown["image"]
    assert len(answer["faces"]) == len(shown["faces"]) == 1
    for got, expected in zip(answer["faces"], shown["faces"], strict=True):
        for key in ("box", "landmarks", "emotion"):
            assert got[key] == expected[key], key
        assert_rounded(got["confidence"], expected["confidence"])
        for label, value in expected["probabilities"].items():
            assert_rounded(got["probabilities"][label], value)
    assert set(answer["timings_ms"]) == set(shown["timings_ms"])


def assert_rounded(value: float, shown: Any) -> None:
    """``shown`` is ``value`` rounded to the decimals the README writes."""
    decimals = len(str(shown).split(".")[1])
    assert round(value, decimals) == shown, (value, shown)
