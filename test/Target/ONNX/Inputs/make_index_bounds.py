#!/usr/bin/env python3
"""Gathers whose indices come from graph inputs, for the
onebit.index_bound argument attributes. usage: make_index_bounds.py OUT.onnx

  ids   -> Gather(emb[10, 4]) and Gather(small[6, 4]): bound 6 (smallest)
  pos   -> Unsqueeze -> Cast(int32) -> Gather(table[3, 7], axis=1): bound 7
  shift -> Add(shift, 1) -> Gather(emb): not a plain copy, no attribute
  dyn   -> Gather(x[?, 4]): the gathered axis is dynamic, no attribute
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


nodes = [
    helper.make_node("Gather", ["emb", "ids"], ["g_emb"], name="embed/Gather"),
    helper.make_node("Gather", ["small", "ids"], ["g_small"],
                     name="small/Gather"),
    helper.make_node("Unsqueeze", ["pos", "ax0"], ["pos2"]),
    helper.make_node("Cast", ["pos2"], ["pos32"], to=TensorProto.INT32),
    helper.make_node("Gather", ["table", "pos32"], ["g_table"], axis=1,
                     name="table/Gather"),
    helper.make_node("Add", ["shift", "one"], ["shifted"]),
    helper.make_node("Gather", ["emb", "shifted"], ["g_shift"],
                     name="shift/Gather"),
    helper.make_node("Gather", ["x", "dyn"], ["g_dyn"], name="dyn/Gather"),
]
inits = [
    init("emb", np.arange(40, dtype=np.float32).reshape(10, 4)),
    init("small", np.arange(24, dtype=np.float32).reshape(6, 4)),
    init("table", np.arange(21, dtype=np.float32).reshape(3, 7)),
    init("ax0", np.array([0], np.int64)),
    init("one", np.array(1, np.int64)),
]
graph = helper.make_graph(
    nodes, "index_bounds",
    [helper.make_tensor_value_info("ids", I64, [2, 3]),
     helper.make_tensor_value_info("pos", I64, [5]),
     helper.make_tensor_value_info("shift", I64, [2]),
     helper.make_tensor_value_info("x", F, ["n", 4]),
     helper.make_tensor_value_info("dyn", I64, [2])],
    [helper.make_tensor_value_info(n, F, None)
     for n in ["g_emb", "g_small", "g_table", "g_shift", "g_dyn"]],
    inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, sys.argv[1])
