"""Fixtures of the hardening tests and their hypothesis profiles.

Profiles: "hardening" (default, a few seconds per test, part of ``make test``) and "fuzz"
(``make test SUITE=fuzz``: ``HYPOTHESIS_PROFILE=fuzz pytest tests/hardening``). An environment variable rather
than ``--hypothesis-profile``: this conftest may load after that option is applied and override it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from .helpers import ASTRONAUT, serve_in_thread

# Examples hit a live server: no per-example deadline (timing varies with the machine's load),
# and a module-scoped server fixture is shared on purpose.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}
settings.register_profile("hardening", max_examples=25, **_COMMON)
settings.register_profile("fuzz", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hardening"))


@pytest.fixture(autouse=True)
def _isolate_from_fer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the tests, never from FER_* variables of the shell running them."""
    for name in [n for n in os.environ if n.startswith("FER_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[str]:
    """One default server for a whole module (fuzzers send many requests to it)."""
    with serve_in_thread() as (base_url, _app):
        yield base_url


@pytest.fixture(scope="session")
def astronaut_bytes() -> bytes:
    return ASTRONAUT.read_bytes()
