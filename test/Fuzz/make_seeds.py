#!/usr/bin/env python3
"""Writes small valid inputs for each fuzz target into OUT/<target>/.

The fuzzers start from these (and from the regression corpus next to this
file) so that they reach deep into each parser within seconds:
  gguf       tiny llama models (F32, F16, Q8_0, Q4_0) with a gpt2 tokenizer
  tokenizer  the tokenizer.json files of test/Tokenizer/Inputs, each followed
             by a NUL and text to encode
  npy        .npy files of every dtype onebit-run reads
  checkpoint onebit training checkpoints
  onnx       ONNX's backend node-test models that onebit imports, and small
             decoders with past key/values (test/Target/ONNX/Inputs)
  artifact   .onebit containers with KV-cache and plain entries, constants
             and a tokenizer (the code section is not loaded by the fuzzer)
Usage: make_seeds.py OUT [--onnx-node-dir DIR]
"""
import argparse
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def byte_tokens():
    # GPT-2's byte-to-unicode map: printable bytes stand for themselves.
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD))
          + list(range(0xAE, 0x100)))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def gguf_seeds(out):
    try:
        import gguf
    except ImportError:
        print("make_seeds.py: no gguf package; skipping GGUF seeds",
              file=sys.stderr)
        return
    rng = np.random.default_rng(0)
    tokens = byte_tokens() + ["He", "ll", "Hell", "<|im_end|>"]
    merges = ["H e", "l l", "He ll"]
    types = [1] * (len(tokens) - 1) + [3]
    vocab = len(tokens)
    for qtype in ("F32", "F16", "Q8_0", "Q4_0"):
        # Quantized rows hold whole 32-value blocks.
        dim, heads, kv, ffn = (8, 2, 1, 16) if qtype[0] == "F" else \
            (32, 2, 1, 32)
        path = os.path.join(out, "llama-%s.gguf" % qtype.lower())
        w = gguf.GGUFWriter(path, "llama")
        w.add_block_count(1)
        w.add_context_length(16)
        w.add_embedding_length(dim)
        w.add_feed_forward_length(ffn)
        w.add_head_count(heads)
        w.add_head_count_kv(kv)
        w.add_rope_freq_base(10000.0)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list(tokens)
        w.add_token_merges(merges)
        w.add_token_types(types)
        w.add_bos_token_id(vocab - 1)
        w.add_eos_token_id(vocab - 1)
        hd = dim // heads
        shapes = {
            "token_embd.weight": (vocab, dim),
            "output_norm.weight": (dim,),
            "output.weight": (vocab, dim),
            "blk.0.attn_norm.weight": (dim,),
            "blk.0.attn_q.weight": (dim, dim),
            "blk.0.attn_k.weight": (kv * hd, dim),
            "blk.0.attn_v.weight": (kv * hd, dim),
            "blk.0.attn_output.weight": (dim, dim),
            "blk.0.ffn_norm.weight": (dim,),
            "blk.0.ffn_gate.weight": (ffn, dim),
            "blk.0.ffn_up.weight": (ffn, dim),
            "blk.0.ffn_down.weight": (dim, ffn),
        }
        for name, shape in shapes.items():
            a = rng.standard_normal(shape).astype(np.float32)
            t = qtype if len(shape) == 2 else "F32"
            if t == "F32":
                w.add_tensor(name, a)
            elif t == "F16":
                w.add_tensor(name, a.astype(np.float16))
            else:
                qt = getattr(gguf.GGMLQuantizationType, t)
                q = gguf.quants.quantize(a, qt)
                w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


def serialized_tokenizer():
    # BPETokenizer::serialize's format: magic, pre-tokenizer, BOS+1, EOS+1,
    # add-BOS, tokens (type, length, bytes), merges (length, bytes); every
    # integer a little-endian uint32.
    tokens = byte_tokens() + ["He", "ll", "<|im_end|>"]
    types = [1] * (len(tokens) - 1) + [3]
    b = b"ONEBITTOK1" + struct.pack("<IIIII", 1, 0, len(tokens), 0,
                                    len(tokens))
    for ty, tok in zip(types, tokens):
        t = tok.encode()
        b += struct.pack("<II", ty, len(t)) + t
    merges = [m.encode() for m in ("H e", "l l")]
    b += struct.pack("<I", len(merges))
    b += b"".join(struct.pack("<I", len(m)) + m for m in merges)
    return b


def tokenizer_seeds(out):
    with open(os.path.join(out, "serialized.tok"), "wb") as f:
        f.write(serialized_tokenizer() + b"\0Hello world<|im_end|>")
    src = os.path.join(ROOT, "test", "Tokenizer", "Inputs")
    for name in sorted(os.listdir(src)):
        if name.endswith(".json"):
            with open(os.path.join(src, name), "rb") as f:
                data = f.read()
            with open(os.path.join(out, name), "wb") as f:
                f.write(data + b"\0Hello world, 2024! <|im_end|>")


def npy_seeds(out):
    arrays = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.arange(4, dtype=np.float16),
        "f64": np.ones((1, 2, 2)),
        "i64": np.arange(5, dtype=np.int64).reshape(1, 5),
        "i32": np.array([[1, 2]], dtype=np.int32),
        "i8": np.array([-1, 2], dtype=np.int8),
        "u8": np.array([1, 255], dtype=np.uint8),
        "bool": np.array([True, False]),
        "scalar": np.float32(3.5),
        "fortran": np.asfortranarray(np.ones((2, 3), dtype=np.float32)),
    }
    for name, a in arrays.items():
        np.save(os.path.join(out, name + ".npy"), a)


def checkpoint_seeds(out):
    # The format of lib/Training/Checkpoint.cpp: "ONEBITCK", version 1, step,
    # count, then per tensor: name, dtype (0 = f32), rank, dims, byte count,
    # bytes; every integer is a little-endian int64.
    def tensor(name, shape):
        data = np.arange(int(np.prod(shape)), dtype=np.float32).tobytes()
        b = struct.pack("<q", len(name)) + name.encode()
        b += struct.pack("<qq", 0, len(shape))
        b += b"".join(struct.pack("<q", d) for d in shape)
        return b + struct.pack("<q", len(data)) + data
    body = [tensor("w", (2, 3)), tensor("g", (3,)), tensor("s", ())]
    blob = b"ONEBITCK" + struct.pack("<qqq", 1, 7, len(body)) + b"".join(body)
    with open(os.path.join(out, "three-tensors.ckpt"), "wb") as f:
        f.write(blob)


def artifact_bytes(features, with_tokenizer, cuda=False):
    """A .onebit container (docs/artifacts.md) with two entries; `cuda`: a
    cuda artifact's device section and managed-memory results."""
    def u32(v): return struct.pack("<I", v)
    def i32(v): return struct.pack("<i", v)
    def i64(v): return struct.pack("<q", v)
    def s(t):
        t = t.encode()
        return struct.pack("<Q", len(t)) + t
    dyn = -(1 << 63)

    def sig(dtype, shape, name, index=None):
        b = bytes([dtype]) + u32(len(shape)) + b"".join(i64(d) for d in shape)
        b += s(name)
        if index:
            b += bytes([1]) + i64(0) + i64(index) + s("embedding")
        else:
            b += bytes([0]) + i64(0) + i64(0) + s("")
        return b

    F32, I64 = 0, 3
    meta = u32(1) + s("onebit-compile 0.1.0 (seed)") + \
        s("cuda" if cuda else "cpu") + s("x86-64")
    meta += u32(len(features)) + b"".join(s(f) for f in features)
    # The device section: chip, PTX features, PTX ISA (empty for the CPU).
    meta += s("sm_80") + s("+ptx80") + u32(80) if cuda else \
        s("") + s("") + u32(0)
    memory = bytes([1 if cuda else 0])  # each entry's result memory
    meta += struct.pack("<Q", 2) + struct.pack("<QQ", 0, 64) + \
        struct.pack("<QQ", 64, 256)
    meta += u32(2)
    cache = [2, 1, dyn, 2, 8]
    meta += s("decode") + s("_mlir_decode") + u32(4)
    meta += sig(I64, [1, 1], "ids", 256) + sig(I64, [], "pos")
    meta += sig(F32, cache, "k_cache") + sig(F32, cache, "v_cache")
    meta += u32(1) + sig(F32, [1, 256], "logits")
    meta += u32(2) + i32(2) + i32(3) + i32(1) + i32(0) + u32(2) + i32(2) + i32(3)
    meta += u32(1) + i32(1)  # the position is passed by address
    meta += memory
    meta += s("main") + s("_mlir_main") + u32(1) + sig(F32, [4, dyn], "x")
    meta += u32(1) + sig(F32, [4, dyn], "y") + u32(0) + i32(-1) + i32(-1) + u32(0)
    meta += u32(0)  # no argument by address
    meta += memory
    meta += struct.pack("<Q", 4096)  # the parameter count
    parts = [[1, meta], [2, b"\x7fELF" + bytes(60)]]
    if with_tokenizer:
        parts.append([4, serialized_tokenizer()])
    parts.append([3, bytes(range(256)) + bytes(64)])
    # The container itself as the loader's error tests write it.
    sys.path.insert(0, os.path.join(ROOT, "test", "Artifact", "Inputs"))
    from edit_artifact import layout
    return layout(4, parts)


def artifact_seeds(out):
    for name, features, tok, cuda in [
            ("plain", [], False, False),
            ("tokenizer", ["sse2"], True, False),
            ("features", ["avx2", "fma", "frobnicate"], True, False),
            ("cuda", ["avx2"], True, True)]:
        with open(os.path.join(out, name + ".onebit"), "wb") as f:
            f.write(artifact_bytes(features, tok, cuda))


def onnx_seeds(out, node_dir):
    # Decoders with past key/values (the importer's KV-cache path), one that
    # has the form and one that misses it.
    sys.path.insert(0, os.path.join(ROOT, "test", "Target", "ONNX", "Inputs"))
    import make_past_models
    for kind in ("good", "reader"):
        with open(os.path.join(out, "with-past-" + kind + ".onnx"), "wb") as f:
            f.write(make_past_models.build(kind).SerializeToString())
    if not node_dir or not os.path.isdir(node_dir):
        return
    imports = os.path.join(ROOT, "test", "onnx-backend", "imports.txt")
    with open(imports) as f:
        names = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    for t in names:
        src = os.path.join(node_dir, t, "model.onnx")
        if os.path.exists(src):
            with open(src, "rb") as f, \
                    open(os.path.join(out, t + ".onnx"), "wb") as g:
                g.write(f.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--onnx-node-dir",
                   default="/usr/share/libonnx-testdata/data/node")
    a = p.parse_args()
    for target, fn in [("gguf", gguf_seeds), ("tokenizer", tokenizer_seeds),
                       ("npy", npy_seeds), ("checkpoint", checkpoint_seeds),
                       ("artifact", artifact_seeds)]:
        d = os.path.join(a.out, target)
        os.makedirs(d, exist_ok=True)
        fn(d)
    d = os.path.join(a.out, "onnx")
    os.makedirs(d, exist_ok=True)
    onnx_seeds(d, a.onnx_node_dir)


if __name__ == "__main__":
    main()
