"""End-to-end numerics of weight-only int8 layers on the CPU: the linear
layers of binary_linear_check.py (K not a multiple of 8, odd N, M = 1 and
M > 1, batch dims, f16 activations, bias) rewritten by --onebit-int8-weights,
run with onebit-run twice -- through the runtime kernel (the CPU pipeline) and
through --onebit-decompose-int8-linear (the linalg form the GPU pipeline
compiles) -- and compared with numpy computing X . (scale * Wq)^T + b from the
int8 weights and scales read back from the IR. Also checks the per-row
rounding itself (Wq = round(W / scale), scale = max|W_row| / 127).
--approx: the kernel runs in the default (approximate) mode, where up to two
f32 activation rows of K >= 32 are quantized per block of 32 (q8) for the
decode kernel; those cases may be off by 1e-2 of the output's range, and
must be off by more than f32 rounding (the quantized path really ran).
usage: int8_linear_check.py ONEBIT_OPT ONEBIT_RUN --work DIR [--approx]
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "Dialect", "OneBit",
                                "Transforms", "Inputs"))
from binary_linear_check import CASES, write_case  # noqa: E402
from svid_check import parse_resources  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("opt")
    ap.add_argument("run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--approx", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(11)
    failures = 0
    for name, lead, k, n, dt, _, bias in CASES + [
            ("panel", (3,), 37, 19, "f32", False, True),
            ("decode2", (2,), 576, 67, "f32", False, False)]:
        src, w, b = write_case(a.work, rng, name, lead, k, n, dt, bias)
        q = os.path.join(a.work, name + ".q.mlir")
        subprocess.run([a.opt, src, "--onebit-int8-weights", "-o", q],
                       check=True)
        lin = os.path.join(a.work, name + ".linalg.mlir")
        subprocess.run([a.opt, q, "--onebit-decompose-int8-linear", "-o", lin],
                       check=True)
        qtext = open(q).read()
        if "onebit.int8_linear" not in qtext or \
                "onebit.int8_linear" in open(lin).read():
            print(f"FAIL {name}: not rewritten / not decomposed")
            failures += 1
            continue
        blobs = parse_resources(qtext)
        wq = np.frombuffer(blobs[name + ".weight.int8"], np.int8).reshape(n, k)
        sc = np.frombuffer(blobs[name + ".weight.scales"], "<f4")
        want_sc = np.abs(w).max(1) / np.float32(127)
        rounding_ok = (np.allclose(sc, want_sc, rtol=1e-6) and
                       np.array_equal(wq, np.rint(w / want_sc[:, None])))
        wd = wq.astype(np.float64) * sc.astype(np.float64)[:, None]
        x = rng.standard_normal(lead + (k,)).astype(
            np.float32 if dt == "f32" else np.float16)
        xp = os.path.join(a.work, name + ".x.npy")
        np.save(xp, x)
        ref = x.astype(np.float64) @ wd.T + (b if bias else 0)
        fp = x.astype(np.float64) @ w.astype(np.float64).T + (b if bias else 0)
        scale = max(np.abs(ref).max(), 1e-30)
        errs = []
        for tag, model in (("kernel", q), ("linalg", lin)):
            yp = os.path.join(a.work, f"{name}.{tag}.y.npy")
            subprocess.run([a.run, model, "--input", xp, "--output", yp],
                           check=True)
            y = np.load(yp).astype(np.float64)
            errs.append(np.abs(y - ref).max() / scale
                        if y.shape == ref.shape else np.inf)
        fp_err = np.abs(ref - fp).max() / scale
        tol = 1e-5 if dt == "f32" else 2e-3  # f16 result rounding
        rows = int(np.prod(lead))
        # The CPU kernel takes f32 activations (an f16 x is widened first),
        # so in the default mode any x of one or two rows is quantized to q8.
        q8 = a.approx and rows <= 2 and k >= 32
        kernel_tol = 1e-2 if q8 else tol
        ok = (rounding_ok and errs[0] <= kernel_tol and errs[1] <= tol and
              fp_err < 2e-2 and (not q8 or errs[0] > 1e-6))
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'} {name} x{list(x.shape)} K={k} N={n} "
              f"{dt} bias={bias} kernel_err={errs[0]:.2e} "
              f"linalg_err={errs[1]:.2e} vs_fp={fp_err:.2e} "
              f"rounding={'ok' if rounding_ok else 'WRONG'}")
    print(f"int8-linear-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
