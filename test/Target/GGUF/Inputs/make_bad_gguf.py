#!/usr/bin/env python3
"""Writes hostile GGUF files into OUT/ for errors-overflow.test: each one
declares sizes that wrap 64-bit arithmetic or claim more than the file holds.
"""
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv_u32(key, v):
    return s(key) + struct.pack("<II", 4, v)


def kv_u64(key, v):
    return s(key) + struct.pack("<IQ", 10, v)


def kv_f32(key, v):
    return s(key) + struct.pack("<If", 6, v)


def kv_str(key, v):
    return s(key) + struct.pack("<I", 8) + s(v)


def llama_kv(dim=8, rope=10000.0):
    return [kv_str("general.architecture", "llama"),
            kv_u32("llama.block_count", 1),
            kv_u64("llama.embedding_length", dim),
            kv_u32("llama.feed_forward_length", 16),
            kv_u32("llama.attention.head_count", 2),
            kv_f32("llama.rope.freq_base", rope)]


def gguf(kvs, tensors, pad=64):
    """tensors: (name, dims, type, offset)"""
    b = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    b += b"".join(kvs)
    for name, dims, ty, off in tensors:
        b += s(name) + struct.pack("<I", len(dims))
        b += b"".join(struct.pack("<Q", d) for d in dims)
        b += struct.pack("<IQ", ty, off)
    return b + b"\0" * pad


files = {
    # 2^32 x 2^32 f32 values: the element count wraps to 0 in 64 bits.
    "dims-overflow.gguf": gguf(llama_kv(1 << 32),
                               [("token_embd.weight", [1 << 32, 1 << 32],
                                 0, 0)]),
    # 2^62 tensors in a 100-byte file.
    "tensor-count.gguf": b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 0),
    # An array of 2^40 strings.
    "array-count.gguf": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("a") +
    struct.pack("<IIQ", 9, 8, 1 << 40),
    # An alignment of 2^62 wraps the data section's start.
    "alignment.gguf": gguf([kv_u64("general.alignment", 1 << 62)],
                           [("t", [4], 0, 0)]),
    # A NaN rope base would make every logit NaN.
    "rope-nan.gguf": gguf(llama_kv(rope=float("nan")), []),
    # A float head count beyond int64 (converted with undefined behaviour).
    "head-count-float.gguf": gguf(llama_kv() + [
        kv_f32("llama.attention.head_count_kv", 1e30)], []),
}
for name, data in files.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
