#!/usr/bin/env python3
"""Small decoders with past key/values, built with onnx.helper, and variants
that break the with-past form in one way each (for the importer's KV-cache
recognition, lib/Target/ONNX/KVCache.cpp).

The good model has one layer: x = Gather(emb, input_ids) [b, s, 8];
k, v = Transpose(Reshape(MatMul(x, W), [0, 0, 2, 4]), [0, 2, 1, 3]);
present = Concat(past, k or v, axis=2); logits = MatMul(x, head) [b, s, 8].

usage: make_past_models.py KIND OUT.onnx
  KIND: good, nopast, odd, reader, axis1, fixed, extra, hidden, heads,
        fixedseq, hf (good with attention_mask and position_ids inputs, which
        the logits read), norm (good with the head reading x * 0.5)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(kind):
    rng = np.random.default_rng(0)
    f32 = TensorProto.FLOAT
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32),
                                "emb"),
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32),
                                "wk"),
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32),
                                "wv"),
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32),
                                "head"),
        numpy_helper.from_array(np.array([0, 0, 2, 4], np.int64), "split"),
        numpy_helper.from_array(np.array([0, 0, 4, 2], np.int64), "split4"),
    ]
    past_len = 3 if kind == "fixed" else "past"
    seq = 3 if kind == "fixedseq" else "seq"
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                            ["batch", seq])]
    outputs = [helper.make_tensor_value_info("logits", f32,
                                             ["batch", seq, 8])]
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["x"],
                              name="embed"),
             helper.make_node("MatMul", ["x", "head"], ["logits"],
                              name="lm_head")]
    if kind == "norm":
        # The head reads states nothing else reads (as after a final norm).
        inits.append(numpy_helper.from_array(np.float32(0.5), "half"))
        nodes[1:] = [helper.make_node("Mul", ["x", "half"], ["normed"],
                                      name="final_norm"),
                     helper.make_node("MatMul", ["normed", "head"],
                                      ["logits"], name="lm_head")]
    kinds = [] if kind == "nopast" else (["key"] if kind == "odd"
                                         else ["key", "value"])
    for kv in kinds:
        w = "wk" if kv == "key" else "wv"
        past, present = f"past.0.{kv}", f"present.0.{kv}"
        # "heads": the values have 4 heads of 2, the keys 2 of 4.
        four = kind == "heads" and kv == "value"
        heads, hd = (4, 2) if four else (2, 4)
        inputs.append(helper.make_tensor_value_info(
            past, f32, ["batch", heads, past_len, hd]))
        nodes += [
            helper.make_node("MatMul", ["x", w], [f"{kv}_p"]),
            helper.make_node("Reshape", [f"{kv}_p", "split4" if four
                                         else "split"], [f"{kv}_r"]),
            helper.make_node("Transpose", [f"{kv}_r"], [f"{kv}_t"],
                             perm=[0, 2, 1, 3]),
            helper.make_node("Concat", [past, f"{kv}_t"], [present],
                             name=f"concat_{kv}",
                             axis=1 if kind == "axis1" else 2),
        ]
        if kind != "hidden":
            # Concat on axis 1 stacks heads (and needs past == seq).
            dims = (["batch", "h", "past", hd] if kind == "axis1"
                    else ["batch", heads, "total", hd])
            outputs.append(helper.make_tensor_value_info(present, f32, dims))
    if kind == "reader":
        nodes.append(helper.make_node("Neg", ["past.0.key"], ["neg"],
                                      name="reads_past"))
        outputs.append(helper.make_tensor_value_info(
            "neg", f32, ["batch", 2, "past", 4]))
    if kind == "extra":
        inputs.append(helper.make_tensor_value_info(
            "token_type_ids", TensorProto.INT64, ["batch", "seq"]))
    if kind == "hf":
        # logits + sum(attention_mask) + position_ids, so both are read.
        inputs += [
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                          ["batch", "total"]),
            helper.make_tensor_value_info("position_ids", TensorProto.INT64,
                                          ["batch", "seq"])]
        nodes[1].output[0] = "head_out"
        nodes += [
            helper.make_node("ReduceSum", ["attention_mask"], ["mask_sum"],
                             keepdims=1),
            helper.make_node("Add", ["mask_sum", "position_ids"], ["pm"]),
            helper.make_node("Cast", ["pm"], ["pmf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["pmf", "last"], ["pmf3"]),
            helper.make_node("Add", ["head_out", "pmf3"], ["logits"])]
        inits.append(numpy_helper.from_array(np.array([2], np.int64), "last"))
    graph = helper.make_graph(nodes, "past_" + kind, inputs, outputs, inits)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main():
    kind, out = sys.argv[1], sys.argv[2]
    onnx.save(build(kind), out)


if __name__ == "__main__":
    main()
