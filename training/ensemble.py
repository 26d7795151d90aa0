"""Stage: several exported models -> one ONNX graph that averages their probabilities.

    python -m training.ensemble --members model_store/fer_cnn/1.1.0,model_store/fer_cnn/1.2.0 \\
        --name fer_ensemble --version 1.0.0

Every member must share the labels, the input and the preprocessing contract (each was trained
on the same prepared data). The members' graphs are copied side by side under name prefixes
(``onnx.compose.add_prefix``), all fed by the one input, and an ONNX ``Mean`` node averages their
outputs, so the service serves an ensemble like any other model. With ``--shifts`` the graph
also averages shifted views of each face (``training.shift_views``), the shift chosen on
PublicTest. The export fails when the
merged graph and the mean of the members, each run on its own, disagree on real faces.
Writes model.onnx and a card (members, parameters, MFLOP per face, PublicTest figures, the
selection rule); ``training.evaluate`` adds the PrivateTest metrics, once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

import numpy as np
import onnx
from onnx import compose, helper, numpy_helper

from service.model_store import sha256_of
from training.evaluate import OnnxClassifier, load_raw_split
from training.flops import count_macs
from training.shift_views import offsets, shifted_views, view_nodes

SHARED_FIELDS = ("labels", "input", "output", "preprocessing")


def merge_graphs(member_files: list[Path], input_name: str, output_name: str, shift: int = 0) -> onnx.ModelProto:
    """One model whose output is the mean of the members' outputs for the shared input, averaged
    over the shifted views of ``training.shift_views`` when ``shift`` is not 0."""
    members = [onnx.load(str(path)) for path in member_files]
    opsets: dict[str, int] = {}
    for member in members:
        for op in member.opset_import:
            domain = "" if op.domain == "ai.onnx" else op.domain
            opsets[domain] = max(opsets.get(domain, 0), op.version)
    before, after, initializers, source, target = _views(members[0].graph, input_name, output_name, shift)
    nodes = list(before)
    for index, member in enumerate(members):
        prefixed = compose.add_prefix(member, f"m{index}_")
        nodes.append(helper.make_node("Identity", [source], [f"m{index}_{input_name}"]))
        nodes.extend(prefixed.graph.node)
        initializers.extend(prefixed.graph.initializer)
    outputs = [f"m{index}_{output_name}" for index in range(len(members))]
    nodes += [helper.make_node("Mean", outputs, [target], name="ensemble_mean"), *after]
    graph = helper.make_graph(
        nodes, "fer_ensemble", [members[0].graph.input[0]], [members[0].graph.output[0]], initializers
    )
    imports = [helper.make_opsetid(domain, version) for domain, version in opsets.items()]
    merged = helper.make_model(graph, opset_imports=imports, producer_name="training.ensemble")
    merged.ir_version = members[0].ir_version
    onnx.checker.check_model(merged)
    return merged


def _views(graph: onnx.GraphProto, input_name: str, output_name: str, shift: int) -> tuple:
    if not shift:
        return [], [], [], input_name, output_name
    height, width = (d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:3])
    classes = graph.output[0].type.tensor_type.shape.dim[1].dim_value
    return view_nodes(input_name, output_name, shift, (height, width), classes)


def views_mean(members: list[OnnxClassifier], faces: np.ndarray, shift: int) -> np.ndarray:
    """NumPy reference of the merged graph: the members' mean, averaged over the shifted views."""
    views = shifted_views(members[0].model_input(faces), shift)
    return np.mean([member.predict_input(view) for view in views for member in members], axis=0)


def choose_shift(members: list[OnnxClassifier], data: str, candidates: list[int]) -> tuple[int, dict[int, float]]:
    """The rule's views on PublicTest: the most accurate shift; ties go to the earlier (fewer views)."""
    faces, labels = load_raw_split(data, "PublicTest")
    scores = {s: float((views_mean(members, faces, s).argmax(1) == labels).mean()) for s in candidates}
    return max(candidates, key=lambda s: (scores[s], -candidates.index(s))), scores


def check_parity(
    members: list[OnnxClassifier], merged: OnnxClassifier, faces: np.ndarray, tolerance: float, shift: int = 0
) -> float:
    """Max abs difference between the merged graph and the mean of the members run one by one."""
    diff = float(np.abs(merged.predict_proba(faces) - views_mean(members, faces, shift)).max())
    if not diff < tolerance:
        raise ValueError(f"merged ensemble differs from its members' mean by {diff:.2e} (> {tolerance:.0e})")
    return diff


def shared_contract(cards: list[dict]) -> dict:
    """The labels, input, output and preprocessing every member shares; refuses a mismatch."""
    first = cards[0]
    for card in cards[1:]:
        differing = [key for key in SHARED_FIELDS if card[key] != first[key]]
        if differing:
            raise ValueError(f"{card['name']} {card['version']} differs from {first['name']} in {differing}")
    return {key: first[key] for key in SHARED_FIELDS}


def build(
    model_dirs: list[Path], out_dir: Path, name: str, version: str, data: str, shift: int = 0, tolerance: float = 1e-4
) -> dict:
    """Write the merged model (``shift``: its test-time views) and its card to ``out_dir``; return the card."""
    members = [OnnxClassifier(d) for d in model_dirs]
    cards = [member.meta for member in members]
    contract = shared_contract(cards)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    files = [d / card["onnx"]["file"] for d, card in zip(model_dirs, cards, strict=True)]
    onnx.save(merge_graphs(files, contract["input"]["name"], contract["output"]["name"], shift), str(onnx_path))
    card = {"name": name, "version": version, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    card |= {**contract, "onnx": _file_record(onnx_path)}
    (out_dir / "model.json").write_text(json.dumps(card) + "\n")  # lets OnnxClassifier open it for the checks
    faces, labels = load_raw_split(data, "PublicTest")
    merged = OnnxClassifier(out_dir)
    diff = check_parity(members, merged, faces[:512], tolerance, shift)
    accuracy = float((merged.predict_proba(faces).argmax(1) == labels).mean())
    card |= {
        "dataset": cards[0].get("dataset"),
        "architecture": _architecture(cards, onnx_path),
        "members": [describe_member(card) for card in cards],
        "test_time_views": {"flip": "each member's own", "shift_px": shift, "shifted_views": len(offsets(shift))},
        "selection_rule": "members chosen on PublicTest only; PrivateTest evaluated once, afterwards",
        "export": {"host": platform.platform(), "publictest_accuracy": accuracy, "parity_max_abs": diff},
        "metrics": {},
    }
    (out_dir / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def forward_selection(
    probs: dict[str, np.ndarray], labels: np.ndarray, cost: dict[str, float]
) -> tuple[list[str], list[dict]]:
    """Greedy forward selection on one split: start from the most accurate candidate, add the one
    that raises the mean's accuracy most, stop when none raises it; ties go to the cheaper
    (``cost``, e.g. MFLOP per face). Returns the chosen names and each step's accuracy."""

    def accuracy(names: list[str]) -> float:
        mean = np.mean([probs[name] for name in names], axis=0)
        return float((mean.argmax(1) == labels).mean())

    def best(options: list[list[str]]) -> tuple[float, list[str]]:
        return max(((accuracy(names), names) for names in options), key=lambda s: (s[0], -sum(cost[n] for n in s[1])))

    score, chosen = best([[name] for name in probs])
    steps = [{"members": chosen, "accuracy": score}]
    while rest := [name for name in probs if name not in chosen]:
        next_score, extended = best([[*chosen, name] for name in rest])
        steps.append({"members": extended, "accuracy": next_score})
        if next_score <= score:
            break
        score, chosen = next_score, extended
    return chosen, steps


def select_members(model_dirs: list[Path], data: str) -> tuple[list[Path], list[dict]]:
    """The rule's forward selection of exported models on PublicTest (their flip TTA included)."""
    faces, labels = load_raw_split(data, "PublicTest")
    by_name = {str(d): d for d in model_dirs}
    probs = {name: OnnxClassifier(d).predict_proba(faces) for name, d in by_name.items()}
    cost = {name: count_macs(d / "model.onnx")["total"] for name, d in by_name.items()}
    chosen, steps = forward_selection(probs, labels, cost)
    return [by_name[name] for name in chosen], steps


def _file_record(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}


def _architecture(cards: list[dict], onnx_path: Path) -> dict:
    parameters = sum(int(numpy_helper.to_array(t).size) for t in onnx.load(str(onnx_path)).graph.initializer)
    return {
        "arch": "ensemble (mean of the members' probabilities)",
        "members": len(cards),
        "parameters": parameters,
        "mflop_per_face": round(2 * count_macs(onnx_path)["total"] / 1e6, 3),
    }


def describe_member(card: dict) -> dict:
    """A member as the ensemble's card lists it: name, version, graph hash and PublicTest accuracy."""
    # A member never evaluated on its own (its PrivateTest unread) has only its export's PublicTest figure.
    exported = card.get("export", {}).get("publictest_accuracy")
    public = card.get("metrics", {}).get("PublicTest", {}).get("accuracy", exported)
    sha256 = card["onnx"]["sha256"]
    return {"name": card["name"], "version": card["version"], "sha256": sha256, "publictest_accuracy": public}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", required=True, help="comma-separated exported model folders")
    parser.add_argument("--select", action="store_true", help="keep the members forward selection picks on PublicTest")
    parser.add_argument(
        "--shifts", default="0", help="test-time shift(s) in pixels, e.g. 0,2,3: the most accurate on PublicTest wins"
    )
    parser.add_argument("--name", default="fer_ensemble")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--store", type=Path, default=Path("model_store"))
    parser.add_argument("--data", default="data/processed/fer2013.npz")
    args = parser.parse_args()
    out = args.store / args.name / args.version
    members = [Path(m) for m in args.members.split(",")]
    if args.select:
        members, steps = select_members(members, args.data)
        print(json.dumps(steps, indent=2))
    candidates = [int(s) for s in args.shifts.split(",")]
    shift, scores = choose_shift([OnnxClassifier(d) for d in members], args.data, candidates)
    print(json.dumps({"publictest_accuracy_by_shift": scores, "shift": shift}))
    card = build(members, out, args.name, args.version, args.data, shift)
    print(json.dumps({k: card[k] for k in ("architecture", "members", "export")}, indent=2))


if __name__ == "__main__":
    main()
