"""Compares two quantized models printed as MLIR text (with their
resources): the streamed one (onebit-translate --quantize) against import +
--onebit-quantize. Every onebit.binary_linear must exist in both with the
same constants; packed signs and full-precision weights must be identical
bytes, g, h and bias equal to 1e-6 relative. With --logits A.npy B.npy the
two models' outputs on one input must be identical.

usage: compare_quantized.py REFERENCE.mlir STREAMED.mlir [--logits A B]
"""
import re
import sys

import numpy as np

DTYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32,
          "i64": np.int64, "i8": np.int8, "bf16": None}


def load(path):
    text = open(path).read()
    # dense_resource<key> : tensor<AxBxTYPE>
    types = {}
    for key, elt in re.findall(
            r"dense_resource<([^>]+)>\s*:\s*tensor<(?:[0-9?]+x)*(\w+)>", text):
        types[key] = elt
    blobs = {}
    m = re.search(r"dialect_resources:\s*\{\s*builtin:\s*\{(.*?)\}\s*\}",
                  text, re.S)
    if m:
        for key, hexdata in re.findall(r'([\w.\-]+):\s*"0x([0-9A-Fa-f]*)"',
                                       m.group(1)):
            raw = bytes.fromhex(hexdata)
            blobs[key] = raw[4:]  # the first 4 bytes: the alignment
    layers = {}
    for line in text.splitlines():
        if "onebit.binary_linear" not in line:
            continue
        name = re.search(r'onebit.name = "([^"]+)"', line)
        if name:
            layers[name.group(1)] = line
    return types, blobs, layers


def values(blobs, types, key):
    dt = DTYPES.get(types.get(key, ""))
    if dt is None:
        sys.exit(f"compare-quantized: resource '{key}' has no readable type")
    return np.frombuffer(blobs[key], dtype=dt).astype(np.float64)


def main():
    args = sys.argv[1:]
    logits = None
    if "--logits" in args:
        i = args.index("--logits")
        logits = args[i + 1:i + 3]
        args = args[:i]
    (rt, rb, rl), (st, sb, sl) = load(args[0]), load(args[1])
    if not rl:
        sys.exit("compare-quantized: the reference has no binary_linear")
    if set(rl) != set(sl):
        sys.exit(f"compare-quantized: layers differ: only in reference "
                 f"{sorted(set(rl) - set(sl))}, only streamed "
                 f"{sorted(set(sl) - set(rl))}")
    if set(rb) != set(sb):
        sys.exit(f"compare-quantized: resources differ: only in reference "
                 f"{sorted(set(rb) - set(sb))}, only streamed "
                 f"{sorted(set(sb) - set(rb))}")
    worst, signs, fp = 0.0, 0, 0
    for key in sorted(rb):
        suffix = key.rsplit(".", 1)[-1]
        if suffix in ("g", "h", "bias") and key.rsplit(".", 1)[0] in rl:
            a, b = values(rb, rt, key), values(sb, st, key)
            if a.shape != b.shape:
                sys.exit(f"compare-quantized: '{key}' sizes differ")
            rel = np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30))
            if not rel <= 1e-6:
                sys.exit(f"compare-quantized: '{key}' differs: max relative "
                         f"difference {rel:g}")
            worst = max(worst, float(rel))
        else:
            if rb[key] != sb[key]:
                sys.exit(f"compare-quantized: '{key}' bytes differ")
            if suffix == "signs":
                signs += 1
            else:
                fp += 1
    if signs != len(rl):
        sys.exit(f"compare-quantized: {len(rl)} layers but {signs} sign "
                 "tensors")
    print(f"compare-quantized: {len(rl)} layers: signs identical, g/h max "
          f"relative difference {worst:g}; {fp} other constants identical")
    if logits:
        a, b = np.load(logits[0]), np.load(logits[1])
        if a.shape != b.shape or not np.array_equal(a, b):
            sys.exit(f"compare-quantized: logits differ: max "
                     f"{np.max(np.abs(a.astype(np.float64) - b)):g}")
        print(f"compare-quantized: logits {list(a.shape)} identical "
              f"(max |logit| {np.max(np.abs(a)):g})")
    print("compare-quantized: ok")


if __name__ == "__main__":
    main()
