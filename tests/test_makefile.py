"""The Makefile: a short list of targets a user or CI runs, defaults naming the served model, and the
member commands docs/training.md writes down are what the targets run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from service.model_store import load_model_card, resolve_model_dir
from service.settings import Settings

REPO = Path(__file__).resolve().parents[1]
KNOWN = {"install", "install-dev", "run", "serve", "test", "clean", "format", "lint"}  # the course project's


def make(*args: str) -> str:
    """``make`` in the repository, dry runs included, free of any make or model settings of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MODEL_", "RUN", "SUITE"))}
    return subprocess.run(["make", "-s", *args], cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout


def test_help_lists_every_target_and_at_most_25() -> None:
    listed = [line.split()[0] for line in make("help").splitlines()]
    phony = re.search(r"^\.PHONY:(.*?)(?<!\\)\n", (REPO / "Makefile").read_text(), re.S | re.M)
    assert phony and sorted(listed) == sorted(phony.group(1).replace("\\", " ").split())
    assert len(listed) <= 25 and set(listed) >= KNOWN
    assert make() == make("help")  # plain `make` explains itself


def test_export_and_quantize_default_to_the_float_model_the_service_serves() -> None:
    settings = Settings()
    store = REPO / settings.model_store
    served = resolve_model_dir(store, settings.model_name, settings.model_version, settings.model_variant)
    card = load_model_card(served).metadata
    release = card["quantization"]["source"]["version"]  # the service serves an int8 variant of a release
    for target in ("export", "quantize"):
        assert f"--name {card['name']} --version {release}" in make("-n", target).splitlines()[-1]


def test_the_member_commands_in_the_docs_are_what_make_runs() -> None:
    section = (REPO / "docs" / "training.md").read_text().split("\n## Ensemble members\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    stages = re.findall(r"^(make (?:train|finetune) .*)\n((?:# .*\n)+)", block, re.M)
    assert len(stages) == 2
    for command, comment in stages:
        documented = " ".join(line.lstrip("#= ").rstrip("\\ ") for line in comment.splitlines())
        ran = make("-n", *shlex.split(command)[1:]).splitlines()[-1]
        assert ran.replace(".venv/bin/python", "python").split() == documented.split()
