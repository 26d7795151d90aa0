"""Multiply-accumulates per face of an ONNX graph, counted from its Conv, Gemm and MatMul nodes.

The batch dimension is pinned to 1 and ONNX shape inference fills in every intermediate shape;
element-wise ops, pooling and softmax are left out (they are a rounding error next to the convs).
FLOPs are reported as 2 x MACs.
"""

from __future__ import annotations

import math
from pathlib import Path

import onnx
from onnx import shape_inference

COUNTED_OPS = ("Conv", "Gemm", "MatMul")


def count_macs(model_path: Path) -> dict[str, int]:
    """MACs for one face, by op type (``{"Conv": ..., "Gemm": ..., "MatMul": ..., "total": ...}``)."""
    model = onnx.load(str(model_path))
    _pin_batch(model, 1)
    graph = shape_inference.infer_shapes(model, data_prop=True).graph
    shapes = _known_shapes(graph)
    totals = dict.fromkeys(COUNTED_OPS, 0)
    for node in graph.node:
        if node.op_type in COUNTED_OPS:
            totals[node.op_type] += _node_macs(node, shapes)
    return {**totals, "total": sum(totals.values())}


def _pin_batch(model: onnx.ModelProto, batch: int) -> None:
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch


def _known_shapes(graph: onnx.GraphProto) -> dict[str, list[int]]:
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    return shapes


def _node_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    out = _shape(shapes, node.output[0], node)
    if node.op_type == "Conv":
        # Weight (M, C/group, kH, kW): every output element is a dot product of C/group*kH*kW terms.
        return math.prod(out) * math.prod(_shape(shapes, node.input[1], node)[1:])
    a = _shape(shapes, node.input[0], node)
    trans_a = any(attr.name == "transA" and attr.i for attr in node.attribute)
    inner = a[-2] if node.op_type == "Gemm" and trans_a else a[-1]
    return math.prod(out) * inner


def _shape(shapes: dict[str, list[int]], name: str, node: onnx.NodeProto) -> list[int]:
    if name not in shapes:
        raise ValueError(f"shape inference left {name!r} (input/output of {node.op_type} {node.name!r}) unknown")
    return shapes[name]
