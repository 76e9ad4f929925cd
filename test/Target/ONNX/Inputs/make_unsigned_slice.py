#!/usr/bin/env python3
"""A model with uint8/uint32 values (signless IR, unsigned ops) and a Slice
with a negative step. usage: make_unsigned_slice.py OUT.onnx"""
import sys

import onnx
from onnx import TensorProto, helper

nodes = [
    helper.make_node("Div", ["a", "b"], ["q"]),
    helper.make_node("Max", ["a", "b"], ["m"]),
    helper.make_node("Less", ["a", "b"], ["lt"]),
    helper.make_node("Cast", ["a"], ["af"], to=TensorProto.FLOAT),
    helper.make_node("Cast", ["f"], ["fu"], to=TensorProto.UINT32),
    helper.make_node("Slice", ["f", "st", "en", "ax", "sp"], ["rev"]),
]
inits = [helper.make_tensor(n, TensorProto.INT64, [1], [v])
         for n, v in [("st", -1), ("en", -100), ("ax", 1), ("sp", -2)]]
graph = helper.make_graph(
    nodes, "unsigned_slice",
    [helper.make_tensor_value_info("a", TensorProto.UINT8, [4]),
     helper.make_tensor_value_info("b", TensorProto.UINT8, [4]),
     helper.make_tensor_value_info("f", TensorProto.FLOAT, [2, 5])],
    [helper.make_tensor_value_info(n, t, None) for n, t in
     [("q", TensorProto.UINT8), ("m", TensorProto.UINT8),
      ("lt", TensorProto.BOOL), ("af", TensorProto.FLOAT),
      ("fu", TensorProto.UINT32), ("rev", TensorProto.FLOAT)]],
    inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.save(model, sys.argv[1])
