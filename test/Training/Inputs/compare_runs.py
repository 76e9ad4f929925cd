"""Compares two onebit-train runs: the per-step losses of their train.jsonl
and the tensors of their final checkpoint.bin, to a relative tolerance.

usage: compare_runs.py DIR_A DIR_B [--rtol R] [--steps N]

Losses: |a - b| <= rtol * |b| for loss, l_ce and l_mse at every step (the
log prints 7 significant digits). Tensors (parameters and Adam moments):
|a - b|_2 <= rtol * |b|_2 per tensor. The largest single-element difference
(max |a - b| / max |b| per tensor) is printed too, not checked: Adam divides
by sqrt(v), which amplifies float rounding differences of the gradient in
elements whose v is small. Prints one line per kind with the worst relative
differences, and exits 1 on a mismatch."""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {0: np.float32}  # onebit's DType::F32; the state is f32


def read_checkpoint(path):
    data = open(path, "rb").read()
    assert data[:8] == b"ONEBITCK", path
    pos = 8
    version, step, count = struct.unpack_from("<qqq", data, pos)
    pos += 24
    tensors = {}
    for _ in range(count):
        (n,) = struct.unpack_from("<q", data, pos)
        pos += 8
        name = data[pos:pos + n].decode()
        pos += n
        dtype, rank = struct.unpack_from("<qq", data, pos)
        pos += 16
        shape = struct.unpack_from("<%dq" % rank, data, pos)
        pos += 8 * rank
        (size,) = struct.unpack_from("<q", data, pos)
        pos += 8
        raw = data[pos:pos + size]
        pos += size
        if name.startswith("train."):
            tensors[name] = np.frombuffer(raw, dtype=np.int64).reshape(shape)
        else:
            tensors[name] = np.frombuffer(raw, dtype=np.float32).reshape(shape)
    return step, tensors


def read_log(path):
    return [json.loads(line) for line in open(path)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--steps", type=int, default=0)
    args = p.parse_args()
    ok = True
    la, lb = read_log(args.a + "/train.jsonl"), read_log(args.b + "/train.jsonl")
    if args.steps and not (len(la) == len(lb) == args.steps):
        print("step counts differ: %d, %d (expected %d)" % (len(la), len(lb),
                                                          args.steps))
        return 1
    worst = 0.0
    for ra, rb in zip(la, lb):
        if ra["step"] != rb["step"]:
            print("steps differ: %d, %d" % (ra["step"], rb["step"]))
            return 1
        for key in ("loss", "l_ce", "l_mse"):
            rel = abs(ra[key] - rb[key]) / max(abs(rb[key]), 1e-30)
            worst = max(worst, rel)
            if rel > args.rtol:
                print("step %d %s: %r vs %r (%.3g relative)" %
                      (ra["step"], key, ra[key], rb[key], rel))
                ok = False
    print("losses: %d steps, worst relative difference %.2g" % (len(la), worst))
    sa, ta = read_checkpoint(args.a + "/checkpoint.bin")
    sb, tb = read_checkpoint(args.b + "/checkpoint.bin")
    if sa != sb:
        print("checkpoints at steps %d and %d" % (sa, sb))
        return 1
    names = [n for n in ta if not n.startswith("train.")]
    if names != [n for n in tb if not n.startswith("train.")]:
        print("the checkpoints hold different tensors")
        return 1
    for kind, pick in (("parameters", lambda n: not n.endswith((".adam_m", ".adam_v"))),
                       ("adam moments", lambda n: n.endswith((".adam_m", ".adam_v")))):
        worst, worstMax, count = 0.0, 0.0, 0
        for n in filter(pick, names):
            a, b = ta[n].astype(np.float64), tb[n].astype(np.float64)
            rel = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)
            worstMax = max(worstMax, np.abs(a - b).max() /
                           max(np.abs(b).max(), 1e-30))
            worst = max(worst, rel)
            count += 1
            if rel > args.rtol:
                print("%s: %.3g relative" % (n, rel))
                ok = False
        print("%s: %d tensors at step %d, worst relative difference %.2g "
              "(largest element: %.2g of the tensor's max)" %
              (kind, count, sa, worst, worstMax))
    print("equal to %g" % args.rtol if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
