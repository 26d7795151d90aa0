"""What a ``training.teach`` run has computed so far, saved as it goes, so that the same command continues it.

An ensemble teacher with test-time views costs hours on this CPU (issue 24's: 3 members x 5 shifted views
x their flip, about 28 GFLOP a face-view, over 8 views of 28,709 faces), longer than a training machine is
held. Only the teacher's outputs are saved: the views themselves are remade from their seed on resume
(augmenting is cheap, and replaying it brings the random generators to where they stood), so the file is
the probabilities alone: 8 x 28,709 x 7 float32, about 6 MB, small enough to commit at a hand-over.

The file is one .npz written atomically after every step, with the run's key (the teacher's members, the
views' count, seed and augmentation) stored in it: a file made by another command is refused rather than
mixed in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

KEY = "key"


class TeachProgress:
    """Named arrays saved to ``path`` (None: kept in memory only) under the command's ``key``."""

    def __init__(self, path: Path | None, key: dict):
        self.path, self.key = path, json.dumps(key, sort_keys=True)
        self.arrays: dict[str, Any] = {}
        if path is not None and path.is_file():
            self.arrays = self._load(path)
            print(f"teach: continuing from {path} ({', '.join(sorted(self.arrays))})", flush=True)

    def get(self, name: str, default=None):
        """The saved array ``name``, or ``default`` when it was not computed yet."""
        return self.arrays.get(name, default)

    def put(self, name: str, value: Any, **more: Any) -> Any:
        """Record ``value`` (and ``more``) and save everything; return ``value``."""
        self.arrays |= {name: value} | more
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial.npz")
            np.savez_compressed(partial, allow_pickle=False, **self.arrays, **{KEY: np.array(self.key)})
            os.replace(partial, self.path)
        return value

    def _load(self, path: Path) -> dict[str, Any]:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        saved = str(arrays.pop(KEY))
        if saved != self.key:
            raise ValueError(
                f"{path} was saved by another teach command ({saved}), not this one ({self.key}): "
                "give the command that made it, or delete the file to start again"
            )
        return arrays
