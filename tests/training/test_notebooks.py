"""notebooks/: both run end to end on the committed sample; the committed outputs are a full-dataset run."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from training.notebooks import NOTEBOOKS, execute_notebook

EDA, TRAINING = NOTEBOOKS / "01_EDA.ipynb", NOTEBOOKS / "02_Training.ipynb"
MAX_NOTEBOOK_BYTES = 512 * 1024  # JPEG figures at 72 dpi: ~300 KiB each today


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(output.get("data", {}).get(kind, "") for kind in ("text/plain", "text/markdown"))
    return "\n".join(parts)


def images_of(notebook: nbformat.NotebookNode) -> int:
    outputs = (o for cell in notebook.cells for o in cell.get("outputs", []))
    return sum(any(kind.startswith("image/") for kind in o.get("data", {})) for o in outputs)


@pytest.fixture(scope="module")
def sample_parameters(prepared_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The committed sample (70 faces per split) and a one-epoch, 8-16 wide network."""
    runs = tmp_path_factory.mktemp("notebook_runs")
    return {
        "FER_NB_DATA": str(prepared_sample),
        "FER_NB_RUNS": str(runs),
        "FER_NB_EPOCHS": "1",
        "FER_NB_WIDTHS": "8,16",
    }


def test_execute_eda_notebook_on_the_sample(sample_parameters: dict[str, str]) -> None:
    text = text_of(execute_notebook(EDA, sample_parameters, timeout=300))
    assert re.search(r"Training\s+70 faces of 48x48 pixels", text)
    assert "| disgust | 10 | 10 | 10 | 14.3% |" in text  # the sample is balanced: 10 faces per class and split
    assert "| disgust | 1.00 | 1.00 |" in text  # so every class weight is 1


def test_execute_training_notebook_on_the_sample(sample_parameters: dict[str, str]) -> None:
    notebook = execute_notebook(TRAINING, sample_parameters, timeout=300)
    text = text_of(notebook)
    assert re.search(r"training took \d+ s", text) and "(the full recipe: 4,823,879)" in text
    assert re.search(r"PublicTest: accuracy [\d.]+, macro-F1 [\d.]+ \(n=70\)", text)
    committed = re.search(r"PrivateTest: accuracy ([\d.]+), macro-F1 ([\d.]+) \(n=70\)", text)
    assert committed and float(committed[1]) >= 0.5  # the committed model, not the notebook's 1-epoch net
    assert images_of(notebook) == 5  # 3 curve figures, the confusion matrix, the hard examples
    history = Path(sample_parameters["FER_NB_RUNS"]) / "notebook" / "history.csv"
    assert len(history.read_text().splitlines()) == 2  # header + the one epoch


@pytest.mark.parametrize(("path", "full_dataset"), [(EDA, "Training      28709 faces"), (TRAINING, "(n=3589)")])
def test_read_committed_notebooks_hold_a_small_full_dataset_run(path: Path, full_dataset: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "every code cell was executed"
    assert full_dataset in text_of(notebook), "outputs of a run on the full dataset"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert images_of(notebook) >= 5 and "widgets" not in notebook.metadata
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES
