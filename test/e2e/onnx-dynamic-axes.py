#!/usr/bin/env python3
"""Dynamic batch and sequence axes, end to end.

Exports a tiny LLaMA- or GPT-2-style decoder (models.py) with
torch.onnx.export(dynamic_axes={batch, seq}), then
  * imports it keeping the axes dynamic (tensor<?x?xi64> -> tensor<?x?xVxf32>)
    and runs that one model through onebit-run on several concrete shapes;
  * imports it again with --input-shape input_ids=BxS for each --static shape
    and runs that;
and compares every result with PyTorch's logits for the same ids. Prints one
line per run with the maximum error relative to max|reference| and exits 1
when one exceeds --rtol.

usage: onnx-dynamic-axes.py {llama,gpt2} --translate T --run R --work DIR
           [--opset 17] [--dynamic 2x5,1x7] [--static 3x4] [--rtol 1e-5]
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


def shapes(text):
    return [tuple(int(d) for d in s.split("x")) for s in text.split(",") if s]


def signature(mlir):
    text = open(mlir).read()
    m = re.search(r"func.func @main\(%arg0: (tensor<[^>]*>)[^)]*\) -> "
                  r"\((tensor<[^>]*>)", text)
    return "%s -> %s" % (m.group(1), m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("kind", choices=["llama", "gpt2"])
    ap.add_argument("--translate", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--dynamic", default="2x5,1x7",
                    help="BxS shapes run on the dynamic import")
    ap.add_argument("--static", default="3x4",
                    help="BxS shapes imported with --input-shape")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("-j", "--jobs", type=int, default=2,
                    help="onebit-run processes at a time")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    tag = "%s-opset%d" % (a.kind, a.opset)
    onnx_path = os.path.join(a.work, tag + ".onnx")
    model, _ = models.export(a.kind, onnx_path, a.opset, dynamic=True,
                             batch=2, seq=5)

    def translate(out, extra=()):
        # Without locations: signature() reads the text.
        subprocess.check_call([a.translate, "--import-onnx", onnx_path,
                               "--mlir-print-debuginfo=false", "-o", out,
                               *extra])
        return out

    dyn = translate(os.path.join(a.work, tag + ".mlir"))
    print("%s dynamic import: %s" % (tag, signature(dyn)))

    # (label, mlir, ids shape)
    runs = [("dynamic", dyn, s) for s in shapes(a.dynamic)]
    for s in shapes(a.static):
        name = "%s-%dx%d.mlir" % (tag, *s)
        mlir = translate(os.path.join(a.work, name),
                         ["--input-shape", "input_ids=%dx%d" % s])
        print("%s static import %dx%d: %s" % (tag, *s, signature(mlir)))
        runs.append(("static", mlir, s))

    def run_one(k):
        label, mlir, (b, s) = runs[k]
        gen = torch.Generator().manual_seed(100 + k)
        ids = torch.randint(0, 64, (b, s), generator=gen)
        with torch.no_grad():
            ref = model(ids).numpy()
        base = os.path.join(a.work, "%s-%d" % (tag, k))
        np.save(base + "-ids.npy", ids.numpy())
        p = subprocess.run([a.run, mlir, "--input", base + "-ids.npy",
                            "--output", base + "-out.npy"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return label, (b, s), None, p.stderr.strip()
        got = np.load(base + "-out.npy")
        if got.shape != ref.shape:
            return label, (b, s), None, "shape %s != %s" % (got.shape,
                                                           ref.shape)
        err = float(np.abs(got - ref).max() / np.abs(ref).max())
        return label, (b, s), err, ""

    bad = 0
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as pool:
        for label, (b, s), err, why in pool.map(run_one, range(len(runs))):
            if err is None:
                print("%s %s %dx%d: FAILED: %s" % (tag, label, b, s, why))
                bad += 1
                continue
            ok = err <= a.rtol
            bad += not ok
            print("%s %s %dx%d: max relative error %.3g%s" %
                  (tag, label, b, s, err, "" if ok else " > %g: FAILED" %
                   a.rtol))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
