"""Reading a saved .npz whole, for tests that compare files array by array."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``, by name."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}
