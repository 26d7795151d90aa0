"""Run the notebooks in notebooks/ with nbclient and keep their outputs small and stable.

    python -m training.notebooks notebooks/01_EDA.ipynb notebooks/02_Training.ipynb   # = make notebooks

``make notebooks`` executes them in place on the full dataset: those are the outputs committed, so
the plots show when a notebook is opened on the web. The tests run the same notebooks on the
committed sample with a tiny budget. Parameters are ``FER_NB_*`` environment variables read by
each notebook's first code cell; the kernel inherits them from this process.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def execute_notebook(
    path: Path, env: dict[str, str] | None = None, timeout: int = 1800, cwd: Path = ROOT
) -> nbformat.NotebookNode:
    """Execute every cell (raising CellExecutionError on the first failure); returns the notebook."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",  # jupyter_client starts "python3" with this very interpreter
        record_timing=False,  # timestamps would change every cell on every run
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env={**os.environ, **(env or {})})
    return strip_volatile(notebook)


def strip_volatile(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop widget state and per-run metadata, so a re-run changes only what the outputs show."""
    notebook.metadata.pop("widgets", None)
    notebook.metadata.get("language_info", {}).pop("version", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("widgets", None)
    return notebook


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a single cell may take")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        began = time.perf_counter()
        nbformat.write(execute_notebook(path, timeout=args.timeout), path)
        print(f"{path}: executed in {time.perf_counter() - began:.0f} s, {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
