"""End-to-end numerics of quantized layers on the CPU: builds linear layers
with random weights (K not a multiple of 32, odd N, M = 1 and M > 1, leading
batch dims, f16 activations, bias), quantizes them with onebit-opt, runs
them with onebit-run and compares with numpy computing
LN?(X . (S . h g^T)^T) + b from the packed signs and value vectors read back
from the IR.
With --device gpu-emulation the layers run through the GPU pipeline's
kernels, executed as host loops (onebit-run --device=gpu-emulation): up to 8
rows the sign-flip kernel, f16 results held to 1e-3; from 9 rows on the
tensor-core (mma.sync) kernel, whose inputs x * g are rounded to f16, held to
2e-3 of the largest output, and an f32 layer whose result is as exact as the
sign-flip kernel's (1e-6) fails (the mma kernel did not run). --prefill adds
layers with M = 16, 33, 64 and 512 (K and N not multiples of the kernel's
128-feature K tiles and 128-column blocks, bias, post-norm, f16 and f32).
With --kernel-mode fast the CPU kernels use int8 lookup tables for up to 8
activation rows: results are held to 2e-2 of the largest output, and unless
onebit-run notes that the CPU has no fast kernel, a layer with <= 8 rows
whose result is as exact as the exact kernel's fails (the fast kernel did not
run).
usage: binary_linear_check.py ONEBIT_OPT ONEBIT_RUN --work DIR
                              [--device cpu|gpu-emulation]
                              [--kernel-mode exact|fast] [--prefill]
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "Dialect", "OneBit", "Transforms", "Inputs"))
from svid_check import parse_resources, unpack_signs  # noqa: E402

CASES = [
    # name, leading dims, K, N, dtype, post_norm, bias
    ("gemv", (1,), 100, 37, "f32", False, False),
    ("gemm", (16,), 96, 64, "f32", False, True),
    ("batched", (2, 3), 33, 17, "f32", True, False),
    ("normbias", (5,), 64, 31, "f32", True, True),
    ("half", (4,), 40, 24, "f16", False, False),
    ("wide", (3,), 4096, 48, "f32", False, False),
    # Split-K on the GPU (few blocks along N, several K tiles) with 128-bit
    # sign loads (M = 1, K / 32 a multiple of 4), and with 32-bit ones and
    # the post-norm (M = 2, f16, K / 32 = 130).
    ("splitk", (1,), 8320, 40, "f32", False, True),
    ("splitknorm", (2,), 4160, 24, "f16", True, True),
]

PREFILL_CASES = [
    ("pf16", (16,), 200, 70, "f32", False, True),
    ("pf33", (33,), 136, 65, "f16", True, True),
    ("pf64", (4, 16), 300, 130, "f32", True, False),
    ("pf512", (512,), 100, 72, "f16", False, True),
    ("pf512f32", (512,), 260, 40, "f32", False, False),
]

# The GPU pipeline's threshold (onebit-gpu-binary-linear-kernels
# mma-min-rows): from this many rows on, the tensor-core kernel.
MMA_MIN_ROWS = 9


def module_text(name, lead, k, n, dt, bias, w, b):
    shape_x = "x".join(map(str, lead)) + f"x{k}"
    shape_y = "x".join(map(str, lead)) + f"x{n}"
    r = len(lead) + 1
    dims = [f"d{i}" for i in range(r + 1)]
    # y[lead..., n] = sum_k x[lead..., k] w[n, k]
    amap = lambda res: f"affine_map<({', '.join(dims)}) -> ({', '.join(res)})>"
    lead_d, nd, kd = dims[:r - 1], dims[r - 1], dims[r]
    pmap = lambda res: f"affine_map<({', '.join(dims[:r])}) -> ({', '.join(res)})>"
    maps = [amap(lead_d + [kd]), amap([nd, kd]), amap(lead_d + [nd])]
    iters = ", ".join(['"parallel"'] * r + ['"reduction"'])
    body = f"""
func.func @{name}(%x: tensor<{shape_x}x{dt}>) -> tensor<{shape_y}x{dt}> {{
  %w = arith.constant dense_resource<{name}.weight> : tensor<{n}x{k}x{dt}>
  %zero = arith.constant 0.0 : {dt}
  %e0 = tensor.empty() : tensor<{shape_y}x{dt}>
  %wc = linalg.fill ins(%zero : {dt}) outs(%e0 : tensor<{shape_y}x{dt}>) -> tensor<{shape_y}x{dt}>
  %y = linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = [{iters}]}}
      ins(%x, %w : tensor<{shape_x}x{dt}>, tensor<{n}x{k}x{dt}>) outs(%wc : tensor<{shape_y}x{dt}>) {{
  ^bb0(%a: {dt}, %bb: {dt}, %c: {dt}):
    %p = arith.mulf %a, %bb : {dt}
    %s = arith.addf %c, %p : {dt}
    linalg.yield %s : {dt}
  }} -> tensor<{shape_y}x{dt}>
"""
    if bias:
        body += f"""  %b = arith.constant dense_resource<{name}.b> : tensor<{n}x{dt}>
  %e = tensor.empty() : tensor<{shape_y}x{dt}>
  %z = linalg.generic {{indexing_maps = [{pmap(dims[:r])}, affine_map<({', '.join(dims[:r])}) -> ({dims[r - 1]})>, {pmap(dims[:r])}],
                       iterator_types = [{', '.join(['"parallel"'] * r)}]}}
      ins(%y, %b : tensor<{shape_y}x{dt}>, tensor<{n}x{dt}>) outs(%e : tensor<{shape_y}x{dt}>) {{
  ^bb0(%p: {dt}, %q: {dt}, %o: {dt}):
    %s = arith.addf %p, %q : {dt}
    linalg.yield %s : {dt}
  }} -> tensor<{shape_y}x{dt}>
  return %z : tensor<{shape_y}x{dt}>
}}
"""
    else:
        body += f"  return %y : tensor<{shape_y}x{dt}>\n}}\n"
    npdt = "<f4" if dt == "f32" else "<f2"
    align = "04" if dt == "f32" else "02"
    res = [f'      {name}.weight: "0x{align}000000{w.astype(npdt).tobytes().hex()}"']
    if bias:
        res.append(f'      {name}.b: "0x{align}000000{b.astype(npdt).tobytes().hex()}"')
    return body, res


def write_case(work, rng, name, lead, k, n, dt, bias):
    """Random weights (rows scaled differently) and bias for one case, the
    module in WORK/NAME.mlir; returns (path, w, b) with w as f32."""
    w = (rng.standard_normal((n, k)) * rng.uniform(0.5, 2, (n, 1))).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    if dt == "f16":
        w = w.astype(np.float16).astype(np.float32)
    text, res = module_text(name, lead, k, n, dt, bias, w, b)
    src = os.path.join(work, name + ".mlir")
    with open(src, "w") as f:
        f.write(text + "{-#\n  dialect_resources: {\n    builtin: {\n" +
                ",\n".join(res) + "\n    }\n  }\n#-}\n")
    return src, w, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("opt")
    ap.add_argument("run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--device", default="cpu",
                    choices=["cpu", "gpu-emulation"])
    ap.add_argument("--kernel-mode", default="exact",
                    choices=["exact", "fast", "int16"])
    ap.add_argument("--prefill", action="store_true")
    a = ap.parse_args()
    fast = a.kernel_mode == "fast"
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(7)
    failures = 0
    for name, lead, k, n, dt, post_norm, bias in CASES + (
            PREFILL_CASES if a.prefill else []):
        src, w, b = write_case(a.work, rng, name, lead, k, n, dt, bias)
        q = os.path.join(a.work, name + ".q.mlir")
        opts = f"keep-head=false post-norm={'true' if post_norm else 'false'}"
        subprocess.run([a.opt, src, f"--onebit-quantize={opts}", "-o", q],
                       check=True)
        qtext = open(q).read()
        if "onebit.binary_linear" not in qtext:
            print(f"FAIL {name}: not quantized")
            failures += 1
            continue
        blobs = parse_resources(qtext)
        s = unpack_signs(blobs[name + ".weight.signs"], n, k)
        g = np.frombuffer(blobs[name + ".weight.g"], "<f4").astype(np.float64)
        h = np.frombuffer(blobs[name + ".weight.h"], "<f4").astype(np.float64)
        x = rng.standard_normal(lead + (k,)).astype(np.float32 if dt == "f32" else np.float16)
        xp = os.path.join(a.work, name + ".x.npy")
        yp = os.path.join(a.work, name + ".y.npy")
        np.save(xp, x)
        run = subprocess.run([a.run, q, "--input", xp, "--output", yp,
                              f"--device={a.device}",
                              f"--kernel-mode={a.kernel_mode}"],
                             check=True, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(run.stderr)
        expect_fast = fast and "no fast 1-bit kernel" not in run.stderr
        y = np.load(yp).astype(np.float64)
        ref = (x.astype(np.float64) * g) @ s.T * h
        if post_norm:
            mu = ref.mean(-1, keepdims=True)
            var = ((ref - mu) ** 2).mean(-1, keepdims=True)
            ref = (ref - mu) / np.sqrt(var + 1e-5)
        if bias:
            bb = blobs[name + ".weight.bias"]
            ref = ref + np.frombuffer(bb, "<f4").astype(np.float64)
        err = np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30)
        # f16: result rounding (the CPU kernel library also rounds g*x)
        tol = 1e-5 if dt == "f32" else (2e-3 if a.device == "cpu" else 1e-3)
        if fast:
            tol = 2e-2
        elif a.kernel_mode == "int16" and dt == "f32":
            tol = 1e-3  # 16-bit tables: ~3e-5 measured (docs/kernels.md)
        rows = int(np.prod(lead))
        mma = a.device == "gpu-emulation" and rows >= MMA_MIN_ROWS
        if mma:
            tol = 2e-3  # f16 x * g and +-1 on tensor cores, f32 sums
        ok = y.shape == ref.shape and err <= tol
        if mma and dt == "f32" and err <= 1e-6:
            print(f"FAIL {name}: exact result with {rows} rows on the GPU: "
                  "the tensor-core kernel did not run")
            ok = False
        if expect_fast and rows <= 8 and dt == "f32" and err <= 1e-5:
            print(f"FAIL {name}: exact result with --kernel-mode fast "
                  f"({rows} rows): the fast kernel did not run")
            ok = False
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'} {name} x{list(x.shape)} K={k} N={n} "
              f"{dt} post_norm={post_norm} bias={bias} rel_err={err:.2e}"
              + (" (mma)" if mma else ""))
    print(f"binary-linear-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
