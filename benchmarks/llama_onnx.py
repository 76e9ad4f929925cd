#!/usr/bin/env python3
"""Writes a LLaMA-shaped ONNX decoder with random weights in external data,
one tensor at a time (the weights are never all in memory).

The graph is a LLaMA decoder without rotary embeddings or a causal mask:
token embedding (Gather), per layer RMSNorm, q/k/v/o projections with
multi-head attention (Softmax), residual, RMSNorm, SiLU-gated MLP
(gate/up/down), residual; final RMSNorm and lm_head. Every projection is a
MatMul with a [in, out] initializer, as torch.onnx exports a Linear, named
like the Hugging Face checkpoint (model.layers.3.self_attn.q_proj.weight).
Initializers live in `<out>.data`, each at a 64-byte aligned offset, in
--dtype (f16 by default; the activations have the same type, as in a
half-precision export).

usage: llama_onnx.py OUT.onnx [--layers 32] [--dim 4096] [--ffn 11008]
       [--heads 32] [--vocab 32000] [--seq 8] [--dtype f16|f32] [--seed 0]

Defaults are LLaMA-7B's shape (~13.5 GB of f16 data).
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper


def write(out, layers, dim, ffn, heads, vocab, seq=8, dtype="f16", seed=0):
    np_type = np.float16 if dtype == "f16" else np.float32
    onnx_type = TensorProto.FLOAT16 if dtype == "f16" else TensorProto.FLOAT
    if dim % heads:
        sys.exit("llama_onnx.py: --dim must be a multiple of --heads")
    hd = dim // heads
    rng = np.random.default_rng(seed)
    data_name = os.path.basename(out) + ".data"
    data_path = os.path.join(os.path.dirname(os.path.abspath(out)), data_name)
    inits, nodes = [], []
    with open(data_path, "wb") as data:

        def tensor(name, shape, scale=None, ones=False):
            n = int(np.prod(shape))
            if ones:
                arr = np.ones(n, np_type)
            else:
                s = scale if scale is not None else 1.0 / np.sqrt(shape[0])
                # Generated in f32 per tensor, stored narrowed, then freed.
                arr = (rng.standard_normal(n, dtype=np.float32) * s).astype(
                    np_type)
            pad = (-data.tell()) % 64
            data.write(b"\0" * pad)
            offset = data.tell()
            data.write(arr.tobytes())
            t = TensorProto()
            t.name = name
            t.data_type = onnx_type
            t.dims.extend(shape)
            t.data_location = TensorProto.EXTERNAL
            for k, v in [("location", data_name), ("offset", str(offset)),
                         ("length", str(arr.nbytes))]:
                e = t.external_data.add()
                e.key, e.value = k, v
            inits.append(t)
            del arr
            return name

        def const_i64(name, values):
            inits.append(helper.make_tensor(name, TensorProto.INT64,
                                            [len(values)], values))
            return name

        def node(op, ins, outs, name, **attrs):
            nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))
            return outs[0]

        eps = helper.make_tensor("rms.eps", onnx_type, [],
                                 np.array([1e-5], np_type).tobytes(),
                                 raw=True)
        inits.append(eps)
        scale = helper.make_tensor("attn.scale", onnx_type, [],
                                   np.array([1.0 / np.sqrt(hd)],
                                            np_type).tobytes(), raw=True)
        inits.append(scale)
        axes = const_i64("rms.axes", [-1])
        split_heads = const_i64("attn.split_heads", [0, 0, heads, hd])
        merge_heads = const_i64("attn.merge_heads", [0, 0, dim])

        def rms_norm(x, weight, scope):
            sq = node("Mul", [x, x], [scope + "/sq"], scope + "/Mul")
            ms = node("ReduceMean", [sq, axes], [scope + "/ms"],
                      scope + "/ReduceMean", keepdims=1)
            ad = node("Add", [ms, "rms.eps"], [scope + "/add"], scope + "/Add")
            rt = node("Sqrt", [ad], [scope + "/rt"], scope + "/Sqrt")
            nx = node("Div", [x, rt], [scope + "/nx"], scope + "/Div")
            return node("Mul", [nx, weight], [scope + "/out"],
                        scope + "/Mul_1")

        def linear(x, wname, k, n, scope):
            tensor(wname, [k, n])
            return node("MatMul", [x, wname], [scope + "/out"],
                        scope + "/MatMul")

        tensor("model.embed_tokens.weight", [vocab, dim], scale=0.02)
        x = node("Gather", ["model.embed_tokens.weight", "input_ids"],
                 ["/model/embed_tokens/out"], "/model/embed_tokens/Gather")
        for i in range(layers):
            p, hf = f"/model/layers.{i}", f"model.layers.{i}"
            nw = tensor(f"{hf}.input_layernorm.weight", [dim], ones=True)
            h = rms_norm(x, nw, p + "/input_layernorm")
            qkv = [linear(h, f"{hf}.self_attn.{m}_proj.weight", dim, dim,
                          f"{p}/self_attn/{m}_proj") for m in "qkv"]
            q4, k4, v4 = [node("Reshape", [t, split_heads],
                               [f"{p}/self_attn/{m}4"],
                               f"{p}/self_attn/Reshape_{m}")
                          for t, m in zip(qkv, "qkv")]
            qt = node("Transpose", [q4], [p + "/self_attn/qt"],
                      p + "/self_attn/Transpose_q", perm=[0, 2, 1, 3])
            kt = node("Transpose", [k4], [p + "/self_attn/kt"],
                      p + "/self_attn/Transpose_k", perm=[0, 2, 3, 1])
            vt = node("Transpose", [v4], [p + "/self_attn/vt"],
                      p + "/self_attn/Transpose_v", perm=[0, 2, 1, 3])
            sc = node("MatMul", [qt, kt], [p + "/self_attn/scores"],
                      p + "/self_attn/MatMul_scores")
            sc = node("Mul", [sc, "attn.scale"], [p + "/self_attn/scaled"],
                      p + "/self_attn/Mul_scale")
            pr = node("Softmax", [sc], [p + "/self_attn/probs"],
                      p + "/self_attn/Softmax", axis=-1)
            cx = node("MatMul", [pr, vt], [p + "/self_attn/ctx"],
                      p + "/self_attn/MatMul_ctx")
            cx = node("Transpose", [cx], [p + "/self_attn/ctx_t"],
                      p + "/self_attn/Transpose_ctx", perm=[0, 2, 1, 3])
            cx = node("Reshape", [cx, merge_heads], [p + "/self_attn/merged"],
                      p + "/self_attn/Reshape_ctx")
            o = linear(cx, f"{hf}.self_attn.o_proj.weight", dim, dim,
                       p + "/self_attn/o_proj")
            x = node("Add", [x, o], [p + "/res1"], p + "/Add")
            nw2 = tensor(f"{hf}.post_attention_layernorm.weight", [dim],
                         ones=True)
            h = rms_norm(x, nw2, p + "/post_attention_layernorm")
            g = linear(h, f"{hf}.mlp.gate_proj.weight", dim, ffn,
                       p + "/mlp/gate_proj")
            u = linear(h, f"{hf}.mlp.up_proj.weight", dim, ffn,
                       p + "/mlp/up_proj")
            sg = node("Sigmoid", [g], [p + "/mlp/sig"], p + "/mlp/Sigmoid")
            sl = node("Mul", [g, sg], [p + "/mlp/silu"], p + "/mlp/Mul_silu")
            m = node("Mul", [sl, u], [p + "/mlp/gated"], p + "/mlp/Mul")
            d = linear(m, f"{hf}.mlp.down_proj.weight", ffn, dim,
                       p + "/mlp/down_proj")
            x = node("Add", [x, d], [p + "/res2"], p + "/Add_1")
        nw = tensor("model.norm.weight", [dim], ones=True)
        x = rms_norm(x, nw, "/model/norm")
        linear(x, "lm_head.weight", dim, vocab, "/lm_head")
        nodes[-1].output[0] = "logits"

    graph = helper.make_graph(
        nodes, "llama",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                       [1, seq])],
        [helper.make_tensor_value_info("logits", onnx_type, [1, seq, vocab])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        18)])
    model.ir_version = 8
    with open(out, "wb") as f:
        f.write(model.SerializeToString())
    return data_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--ffn", type=int, default=11008)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seq", type=int, default=8)
    ap.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    write(a.out, a.layers, a.dim, a.ffn, a.heads, a.vocab, a.seq, a.dtype,
          a.seed)


if __name__ == "__main__":
    main()
