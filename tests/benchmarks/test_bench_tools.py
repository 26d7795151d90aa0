"""The benchmark tools themselves: MAC counting, the load generator's HTTP handling, targets, README update."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench import report
from bench.httpload import closed_loop
from training.flops import count_macs

TINY_MACS = {"Conv": 4 * 8 * 8 * (3 * 3 * 3), "Gemm": 256 * 10, "MatMul": 10 * 5}


def tiny_model(path: Path) -> Path:
    """x (N,3,8,8) -> Conv 3x3 to 4 channels -> Flatten (256) -> Gemm to 10 -> MatMul to 5."""

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(np.zeros(shape, np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["h"]),
        helper.make_node("MatMul", ["h", "m"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [weight("w", 4, 3, 3, 3), weight("g", 256, 10), weight("m", 10, 5)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_count_macs_counts_conv_gemm_and_matmul_per_face(tmp_path: Path) -> None:
    macs = count_macs(tiny_model(tmp_path / "tiny.onnx"))
    assert macs == {**TINY_MACS, "total": sum(TINY_MACS.values())}


async def fake_server(replies: list[bytes]) -> tuple[asyncio.Server, int]:
    """Answers each request (read up to its 4-byte body) with the next canned reply, in turn."""
    turn = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal turn
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # the client left
            while await reader.readuntil(b"\r\n\r\n") and await reader.readexactly(4):
                reply = replies[turn % len(replies)]
                turn += 1
                writer.write(reply)
                if b"close" in reply:
                    break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_closed_loop_counts_statuses_and_reconnects_after_connection_close() -> None:
    replies = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ]

    async def run() -> dict:
        server, port = await fake_server(replies)
        async with server:
            request = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
            return (await closed_loop(port, request, concurrency=2, seconds=0.3)).summary()

    summary = asyncio.run(run())
    assert set(summary["status_counts"]) == {"200", "503"}
    assert summary["busy_503"] > 0 and summary["transport_failures"] == {}
    assert summary["rps"] > 0


def test_targets_mark_each_goal_met_or_not() -> None:
    bench = {
        "pipeline": {"detect_latency_ms": 7.5, "cpu_limit_rps": 100.0},
        "service": {
            "predict": [{"batching": "on", "concurrency": 32, "rps": 65.0, "of_cpu_limit": 0.65}],
            "stream": [{"streams": 1, "fps_total": 40.0, "round_trip": {"p95_ms": 30.0}}],
        },
    }
    assert [t["met"] for t in report.targets(bench)] == [True, False, True, True]
    assert [t["met"] for t in report.targets({})] == [None, None, None, None]


def test_update_page_replaces_only_the_results_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nhow\n\n## Results\n\nold numbers\n\n## Later\n\nkept too\n")
    monkeypatch.setattr(report, "PAGE", page)
    monkeypatch.setattr(report, "section", lambda bench, load: "new numbers\n")
    report.update_page()
    assert page.read_text() == "# Benchmarks\n\nhow\n\n## Results\n\nnew numbers\n\n## Later\n\nkept too\n"


def test_the_committed_results_section_is_what_the_results_files_give() -> None:
    """docs/benchmarks.md carries exactly the figures of results/bench.json and results/load.json."""
    from bench.common import BENCH_JSON, LOAD_JSON, read_json

    text = report.PAGE.read_text()
    body = text.split(f"{report.HEADING}\n\n", 1)[1]
    assert body == report.section(read_json(BENCH_JSON), read_json(LOAD_JSON))


def test_parameters_counts_weights_but_not_quantization_constants(tmp_path: Path) -> None:
    from bench.peer import parameters

    model = onnx.load(str(tiny_model(tmp_path / "tiny.onnx")))
    model.graph.initializer.append(numpy_helper.from_array(np.ones(4, np.float32), "w_scale"))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(4, np.int8), "w_zero_point"))
    onnx.save(model, tmp_path / "with_qdq.onnx")
    assert parameters(tmp_path / "with_qdq.onnx") == 4 * 3 * 3 * 3 + 256 * 10 + 10 * 5


def test_peer_inputs_scale_faces_to_64_px_in_minus_one_to_one() -> None:
    from bench.peer import peer_inputs

    faces = np.stack([np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)])
    inputs = peer_inputs(faces)
    assert inputs.shape == (2, 64, 64, 1) and inputs.dtype == np.float32
    assert inputs[0].max() == -1.0 and inputs[1].min() == 1.0


def test_comparison_table_gives_each_model_its_ratio_to_the_peer() -> None:
    from bench.tables import comparison_table

    def row(name: str, at_32: float, accuracy: float | None) -> dict:
        return {"model": name, "parameters": 1000, "mflop_per_face": 10.0, "faces_per_s": {"1": 1.0, "32": at_32},
                "private_test": {"accuracy": accuracy, "macro_f1": accuracy}}  # fmt: skip

    text = comparison_table({"threads": 2, "rows": [row("ours", 3000.0, 0.7), row("peer", 1500.0, 0.58)]})
    ours, peer = text.splitlines()[-2:]
    assert "| 2.00x | 70.00 % |" in ours and "| 1.00x | 58.00 % |" in peer


def test_results_go_to_the_committed_folder_only_when_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.common import BUILD, RESULTS, output

    monkeypatch.delenv("BENCH_RECORD", raising=False)
    assert output("bench.json") == BUILD / "results" / "bench.json"  # git-ignored: measuring leaves no change
    monkeypatch.setenv("BENCH_RECORD", "1")
    assert output("bench.json") == RESULTS / "bench.json"
