#!/usr/bin/env python3
"""Writes small ONNX models for the importer's lit tests.

usage: make_models.py NAME OUT.onnx
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, inits=(), opset=17, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="onebit-test")
    m.ir_version = 8
    return m


rng = np.random.default_rng(0)


def w(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def m_matmul():
    # [batch, seq, 8] x W[8, 4] with dynamic batch/seq, plus a static 2-D one.
    return model(
        [helper.make_node("MatMul", ["x", "W"], ["y"],
                          name="/model/layers.0/mlp/up_proj/MatMul"),
         helper.make_node("MatMul", ["x2", "W"], ["y2"], name="mm2d")],
        [vi("x", F, ["batch", "seq", 8]), vi("x2", F, [3, 8])],
        [vi("y", F, ["batch", "seq", 4]), vi("y2", F, [3, 4])],
        [init("W", w(8, 4))])


def m_batched_matmul():
    return model(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="bmm"),
         helper.make_node("MatMul", ["v", "b2"], ["z"], name="vecmat")],
        [vi("a", F, [2, 1, 3, 4]), vi("b", F, [5, 4, 6]), vi("v", F, [4]),
         vi("b2", F, [4, 6])],
        [vi("y", F, [2, 5, 3, 6]), vi("z", F, [6])])


def m_gemm():
    return model(
        [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"],
                          transB=1, name="/fc/Gemm"),
         helper.make_node("Gemm", ["x", "W2"], ["z"], alpha=2.0, name="g2")],
        [vi("x", F, [2, 8])], [vi("y", F, [2, 4]), vi("z", F, [2, 3])],
        [init("fc.weight", w(4, 8)), init("fc.bias", w(4)),
         init("W2", w(8, 3))])


def m_elementwise():
    names = ["Add", "Sub", "Mul", "Div", "Pow"]
    nodes = [helper.make_node(n, ["a", "b"], [n.lower()], name=n) for n in names]
    unary = ["Sqrt", "Reciprocal", "Neg", "Exp", "Log", "Abs", "Tanh", "Erf",
             "Sigmoid", "Relu"]
    nodes += [helper.make_node(n, ["a"], [n.lower()], name=n) for n in unary]
    nodes += [helper.make_node("Gelu", ["a"], ["gelu"], name="Gelu",
                               approximate="tanh")]
    nodes += [helper.make_node(n, ["a", "b"], [n.lower()], name=n)
              for n in ["Equal", "Less", "Greater"]]
    nodes += [helper.make_node("Where", ["less", "a", "b"], ["where"]),
              helper.make_node("Not", ["less"], ["not"]),
              helper.make_node("And", ["less", "greater"], ["and"]),
              helper.make_node("Or", ["less", "greater"], ["or"]),
              helper.make_node("Max", ["a", "b"], ["max"]),
              helper.make_node("Min", ["a", "b"], ["min"]),
              helper.make_node("Clip", ["a", "lo", "hi"], ["clip"]),
              helper.make_node("IsNaN", ["a"], ["isnan"]),
              helper.make_node("Cast", ["a"], ["cast"], to=TensorProto.FLOAT16),
              helper.make_node("CastLike", ["cast"], ["castlike"],
                               name="CastLike", **{}),
              ]
    nodes[-1].input.append("a")
    outs = [n.output[0] for n in nodes]
    outtypes = {"equal": 9, "less": 9, "greater": 9, "not": 9, "and": 9,
                "or": 9, "isnan": 9, "cast": TensorProto.FLOAT16}
    return model(nodes, [vi("a", F, [2, 3]), vi("b", F, [3])],
                 [vi(o, outtypes.get(o, F), None) for o in outs],
                 [init("lo", np.float32(-1)), init("hi", np.float32(1))],
                 opset=20)


def m_shapes():
    # torch.onnx style: Reshape(x, Concat(Shape(x)[0:2], [2, 4])) with a
    # dynamic batch, then a transpose, softmax and reductions.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["t"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["bu"]),
        helper.make_node("Unsqueeze", ["t", "ax0"], ["tu"]),
        helper.make_node("Concat", ["bu", "tu", "heads"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="/attn/Reshape"),
        helper.make_node("Transpose", ["r"], ["tr"], perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["tr"], ["sm"], axis=-1),
        helper.make_node("ReduceMean", ["sm"], ["mean"], axes=[-1],
                         keepdims=1),
        helper.make_node("ReduceSum", ["sm", "ax_last"], ["sum"], keepdims=0),
        helper.make_node("ReduceMax", ["sm"], ["max"], axes=[1], keepdims=1),
        helper.make_node("LogSoftmax", ["tr"], ["lsm"], axis=1),
    ]
    return model(
        nodes, [vi("x", F, ["batch", 3, 8])],
        [vi(o, F, None) for o in ["sm", "mean", "sum", "max", "lsm"]],
        [init("i0", np.int64(0)), init("i1", np.int64(1)),
         init("ax0", np.array([0], np.int64)),
         init("heads", np.array([2, 4], np.int64)),
         init("ax_last", np.array([-1], np.int64))])


def m_data_movement():
    nodes = [
        helper.make_node("Slice", ["x", "st", "en", "axs"], ["sl"]),
        helper.make_node("Split", ["x", "sp"], ["p0", "p1"], axis=1),
        helper.make_node("Concat", ["p1", "p0"], ["cat"], axis=-1),
        helper.make_node("Squeeze", ["u", "ax0"], ["sq"]),
        helper.make_node("Unsqueeze", ["x", "ax0"], ["us"]),
        helper.make_node("Expand", ["v", "eshape"], ["ex"]),
        helper.make_node("ConstantOfShape", ["eshape"], ["cos"],
                         value=helper.make_tensor("v", F, [1], [0.5])),
        helper.make_node("Gather", ["emb", "ids"], ["g"], axis=0),
        helper.make_node("Trilu", ["m"], ["tri"], upper=0),
        helper.make_node("CumSum", ["x", "ax1"], ["cs"]),
        helper.make_node("Identity", ["x"], ["id"]),
        helper.make_node("Range", ["r0", "r1", "r2"], ["rng"]),
        helper.make_node("Size", ["x"], ["size"]),
        helper.make_node("Einsum", ["x", "e2"], ["es"], equation="ij,jk->ik"),
        helper.make_node("Einsum", ["v1", "v2"], ["outer"], equation="i,j->ij"),
    ]
    return model(
        nodes,
        [vi("x", F, [2, 6]), vi("u", F, [1, 5]), vi("v", F, [3, 1]),
         vi("ids", I64, ["batch", "seq"]), vi("m", F, [4, 4]),
         vi("v1", F, [3]), vi("v2", F, [4])],
        [vi(o, 0, None) for o in ["sl", "cat", "sq", "us", "ex", "cos",
                                     "g", "tri", "cs", "id", "rng", "size",
                                     "es", "outer"]],
        [init("st", np.array([1], np.int64)), init("en", np.array([-1], np.int64)),
         init("axs", np.array([1], np.int64)), init("sp", np.array([2, 4], np.int64)),
         init("ax0", np.array([0], np.int64)),
         init("eshape", np.array([2, 3, 4], np.int64)),
         init("emb", w(10, 4)), init("ax1", np.int64(1)),
         init("r0", np.int64(0)), init("r1", np.int64(5)), init("r2", np.int64(1)),
         init("e2", w(6, 3))])


def m_layernorm():
    return model(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"],
                          axis=-1, epsilon=1e-5, name="/ln/LayerNorm")],
        [vi("x", F, ["batch", 4, 8])], [vi("y", F, ["batch", 4, 8])],
        [init("g", np.ones(8, np.float32)),
         init("b", np.zeros(8, np.float32))])


def m_dtypes():
    # Initializers in typed fields (not raw_data) of each supported type.
    tensors = [
        helper.make_tensor("f32", F, [2], [1.0, 2.0]),
        # make_tensor stores f16/bf16 bit patterns in int32_data.
        helper.make_tensor("f16", TensorProto.FLOAT16, [2], [1.0, 2.0]),
        helper.make_tensor("bf16", TensorProto.BFLOAT16, [2], [1.0, 2.0]),
        helper.make_tensor("i64", I64, [2], [3, 4]),
        helper.make_tensor("i32", TensorProto.INT32, [2], [5, 6]),
        helper.make_tensor("bool", TensorProto.BOOL, [2], [1, 0]),
        init("raw_f32", np.arange(4, dtype=np.float32)),
    ]
    nodes = [helper.make_node("Identity", [t.name], ["o_" + t.name])
             for t in tensors]
    return model(nodes, [], [vi("o_" + t.name, t.data_type, None)
                             for t in tensors], tensors)


def m_mlp():
    # Tiny MLP: two linear layers (MatMul with [K, N] weights) and a Gemm head.
    nodes = [
        helper.make_node("MatMul", ["x", "model.fc1.weight"], ["h"],
                         name="/model/fc1/MatMul"),
        helper.make_node("Add", ["h", "model.fc1.bias"], ["hb"],
                         name="/model/fc1/Add"),
        helper.make_node("Relu", ["hb"], ["a"], name="/model/act/Relu"),
        helper.make_node("MatMul", ["a", "model.fc2.weight"], ["y"],
                         name="/model/fc2/MatMul"),
    ]
    return model(nodes, [vi("x", F, ["batch", "seq", 64])],
                 [vi("y", F, ["batch", "seq", 32])],
                 [init("model.fc1.weight", w(64, 128)),
                  init("model.fc1.bias", w(128)),
                  init("model.fc2.weight", w(128, 32))])


def m_external(out):
    """MatMul whose weight lives in an external file next to the model."""
    folder = os.path.dirname(os.path.abspath(out))
    data = w(8, 4)
    pad = np.zeros(4, np.float32)  # the weight starts at offset 16
    with open(os.path.join(folder, "weights.bin"), "wb") as f:
        f.write(pad.tobytes())
        f.write(data.tobytes())
    t = onnx.TensorProto()
    t.name = "ext.weight"
    t.data_type = F
    t.dims.extend([8, 4])
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in [("location", "weights.bin"), ("offset", "16"),
                 ("length", str(data.nbytes))]:
        e = t.external_data.add()
        e.key, e.value = k, v
    return model([helper.make_node("MatMul", ["x", "ext.weight"], ["y"],
                                   name="/ext/MatMul")],
                 [vi("x", F, [2, 8])], [vi("y", F, [2, 4])], [t])


def m_external_bad(out, location, length=128, offset="16"):
    m = m_external(out)
    t = m.graph.initializer[0]
    for e in t.external_data:
        if e.key == "location":
            e.value = location
        if e.key == "length":
            e.value = str(length)
        if e.key == "offset":
            e.value = offset
    return m


def m_unsupported():
    return model([helper.make_node("Det", ["x"], ["y"], name="my_det")],
                 [vi("x", F, [3, 3])], [vi("y", F, [])])


def m_too_old_opset():
    # LayerNormalization exists from opset 17.
    m = m_layernorm()
    m.opset_import[0].version = 13
    return m


def softmax_reducesum(opset):
    # Softmax flattened at `axis` before opset 13; ReduceSum's axes were an
    # attribute before opset 13 and are an input from 13 on.
    nodes = [helper.make_node("Softmax", ["x"], ["sm"], axis=1, name="sm")]
    if opset < 13:
        nodes.append(helper.make_node("ReduceSum", ["x"], ["rs"], axes=[1],
                                      name="rs"))
    else:
        nodes.append(helper.make_node("ReduceSum", ["x", "axes"], ["rs"],
                                      name="rs"))
    return model(nodes, [vi("x", F, [2, 3, 4])],
                 [vi("sm", F, [2, 3, 4]), vi("rs", F, None)],
                 [init("axes", np.array([1], np.int64))], opset=opset)


def m_opset11():
    return softmax_reducesum(11)


def m_opset13():
    return softmax_reducesum(13)


def m_undefined():
    return model([helper.make_node("Relu", ["nowhere"], ["y"], name="relu0")],
                 [vi("x", F, [3])], [vi("y", F, [3])])


def m_badsize():
    t = onnx.TensorProto()
    t.name = "short.weight"
    t.data_type = F
    t.dims.extend([4, 4])
    t.raw_data = np.zeros(3, np.float32).tobytes()
    return model([helper.make_node("MatMul", ["x", "short.weight"], ["y"])],
                 [vi("x", F, [2, 4])], [vi("y", F, [2, 4])], [t])


def main():
    name, out = sys.argv[1], sys.argv[2]
    if name == "external":
        m = m_external(out)
    elif name == "external-abs":
        m = m_external_bad(out, "/etc/passwd")
    elif name == "external-dotdot":
        m = m_external_bad(out, "../weights.bin")
    elif name == "external-symlink":
        folder = os.path.dirname(os.path.abspath(out))
        link = os.path.join(folder, "escape.bin")
        if os.path.lexists(link):
            os.remove(link)
        os.symlink("/etc/hostname", link)
        m = m_external_bad(out, "escape.bin")
    elif name == "external-range":
        m = m_external_bad(out, "weights.bin", length=4096)
        m_external(out)  # writes weights.bin
    elif name == "external-missing":
        m = m_external_bad(out, "nothere.bin")
    elif name == "external-offset":
        m = m_external_bad(out, "weights.bin", offset="4096")
    elif name == "external-badoffset":
        m = m_external_bad(out, "weights.bin", offset="16x")
    elif name == "external-length":
        m = m_external_bad(out, "weights.bin", length=64)
    elif name == "truncated":
        data = m_mlp().SerializeToString()
        with open(out, "wb") as f:
            f.write(data[: len(data) // 2])
        return
    elif name == "garbage":
        with open(out, "wb") as f:
            f.write(b"this is not an onnx model\n" * 4)
        return
    else:
        m = globals()["m_" + name.replace("-", "_")]()
    if name.startswith("external-") and name in (
            "external-abs", "external-dotdot", "external-symlink"):
        m_external(out)
        m = m_external_bad(out, *{
            "external-abs": ("/etc/passwd",),
            "external-dotdot": ("../weights.bin",),
            "external-symlink": ("escape.bin",)}[name])
    onnx.save(m, out)


if __name__ == "__main__":
    main()
