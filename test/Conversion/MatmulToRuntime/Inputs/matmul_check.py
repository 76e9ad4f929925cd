"""End-to-end numerics of --convert-matmul-to-runtime: f32 contractions of
random odd shapes (transposed operands, batch and broadcast dims, 4-D
attention products, GEMV shapes, a transposed output, dynamic shapes,
non-zero accumulators) run through onebit-run on both backends of
onebit_matmul_f32 (OpenBLAS when built with it, and the built-in kernel) and
are compared with numpy in float64.
usage: matmul_check.py ONEBIT_OPT ONEBIT_RUN --work DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

LETTERS = "bhmnk"


def generic(name, a_idx, b_idx, c_idx, sizes, acc, dynamic=False):
    """A linalg.generic C[c_idx] += A[a_idx] * B[b_idx] over the loop dims
    named in `sizes` (a dict letter -> size). acc: 'zero' (fill 0), 'fill'
    (fill 0.5) or 'arg' (a third function argument)."""
    loops = [d for d in LETTERS if d in sizes]
    shp = lambda idx: [sizes[d] for d in idx]
    ty = lambda idx: "tensor<" + "x".join(
        "?" if dynamic else str(s) for s in shp(idx)) + "xf32>"
    amap = lambda idx: (f"affine_map<({', '.join(loops)}) -> "
                        f"({', '.join(idx)})>")
    iters = ", ".join('"reduction"' if d == "k" else '"parallel"'
                      for d in loops)
    args = [f"%a: {ty(a_idx)}", f"%b: {ty(b_idx)}"]
    if acc == "arg":
        args.append(f"%acc: {ty(c_idx)}")
        init = "%acc"
        pre = ""
    else:
        val = "0.0" if acc == "zero" else "0.5"
        dyn = ""
        if dynamic:
            dims = []
            for d in c_idx:
                src, idx = ("%a", a_idx) if d in a_idx else ("%b", b_idx)
                dims.append(f"%d{d}")
            pre = ""
            for d in c_idx:
                src, idx = ("%a", a_idx) if d in a_idx else ("%b", b_idx)
                pre += (f"  %c{d} = arith.constant {idx.index(d)} : index\n"
                        f"  %d{d} = tensor.dim {src}, %c{d} : {ty(idx)}\n")
            dyn = ", ".join(f"%d{d}" for d in c_idx)
        else:
            pre = ""
        pre += (f"  %z = arith.constant {val} : f32\n"
                f"  %e = tensor.empty({dyn}) : {ty(c_idx)}\n"
                f"  %f = linalg.fill ins(%z : f32) outs(%e : {ty(c_idx)})"
                f" -> {ty(c_idx)}\n")
        init = "%f"
    text = f"""func.func @{name}({', '.join(args)}) -> {ty(c_idx)} {{
{pre}  %r = linalg.generic {{indexing_maps = [{amap(a_idx)}, {amap(b_idx)}, {amap(c_idx)}], iterator_types = [{iters}]}}
      ins(%a, %b : {ty(a_idx)}, {ty(b_idx)}) outs({init} : {ty(c_idx)}) {{
  ^bb0(%x: f32, %y: f32, %o: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }} -> {ty(c_idx)}
  return %r : {ty(c_idx)}
}}
"""
    return text, [shp(a_idx), shp(b_idx)] + ([shp(c_idx)] if acc == "arg"
                                             else [])


def named(name, op, a_shape, b_shape, c_shape, maps=None):
    ty = lambda s: "tensor<" + "x".join(map(str, s)) + "xf32>"
    m = f" indexing_maps = [{', '.join(maps)}]" if maps else ""
    text = f"""func.func @{name}(%a: {ty(a_shape)}, %b: {ty(b_shape)}) -> {ty(c_shape)} {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : {ty(c_shape)}
  %f = linalg.fill ins(%z : f32) outs(%e : {ty(c_shape)}) -> {ty(c_shape)}
  %r = linalg.{op}{m} ins(%a, %b : {ty(a_shape)}, {ty(b_shape)}) outs(%f : {ty(c_shape)}) -> {ty(c_shape)}
  return %r : {ty(c_shape)}
}}
"""
    return text, [list(a_shape), list(b_shape)]


MK = "affine_map<(d0, d1, d2) -> (d0, d2)>"
KM = "affine_map<(d0, d1, d2) -> (d2, d0)>"
KN = "affine_map<(d0, d1, d2) -> (d2, d1)>"
NK = "affine_map<(d0, d1, d2) -> (d1, d2)>"
MN = "affine_map<(d0, d1, d2) -> (d0, d1)>"


def cases():
    # name, (text, input shapes), einsum of the reference, accumulator kind
    yield "matmul", named("matmul", "matmul", (37, 53), (53, 29), (37, 29)), \
        "mk,kn->mn", "zero"
    yield "matmul_bt", named("matmul_bt", "matmul", (37, 53), (29, 53),
                             (37, 29), [MK, NK, MN]), "mk,nk->mn", "zero"
    yield "matmul_at", named("matmul_at", "matmul", (53, 37), (53, 29),
                             (37, 29), [KM, KN, MN]), "km,kn->mn", "zero"
    yield "blocked", named("blocked", "matmul", (70, 300), (300, 521),
                           (70, 521)), "mk,kn->mn", "zero"
    yield "gemv", named("gemv", "matmul", (1, 300), (300, 77), (1, 77)), \
        "mk,kn->mn", "zero"
    yield "gemv_bt", named("gemv_bt", "matmul", (1, 300), (77, 300),
                           (1, 77), [MK, NK, MN]), "mk,nk->mn", "zero"
    yield "n1", named("n1", "matmul", (33, 40), (40, 1), (33, 1)), \
        "mk,kn->mn", "zero"
    yield "batch_matmul", named("batch_matmul", "batch_matmul", (3, 17, 9),
                                (3, 9, 13), (3, 17, 13)), "bmk,bkn->bmn", "zero"
    s = dict(b=2, h=3, m=5, n=7, k=8)
    yield "attn_qk", generic("attn_qk", "bhmk", "bhnk", "bhmn", s, "arg"), \
        "bhmk,bhnk->bhmn", "arg"
    yield "attn_pv", generic("attn_pv", "bhmk", "bhkn", "bhmn", s, "fill"), \
        "bhmk,bhkn->bhmn", "fill"
    yield "attn_bshd", generic("attn_bshd", "bmhk", "bnhk", "bhmn", s,
                               "zero"), "bmhk,bnhk->bhmn", "zero"
    s = dict(b=2, m=5, n=11, k=19)
    yield "bcast_weight", generic("bcast_weight", "bmk", "kn", "bmn", s,
                                  "zero"), "bmk,kn->bmn", "zero"
    s = dict(m=6, n=10, k=13)
    yield "out_t", generic("out_t", "mk", "kn", "nm", s, "arg"), \
        "mk,kn->nm", "arg"
    s = dict(h=3, m=6, n=10, k=13)
    yield "strided_a", generic("strided_a", "mkh", "hkn", "hmn", s, "zero"), \
        "mkh,hkn->hmn", "zero"
    s = dict(m=9, n=14, k=23)
    yield "dynamic", generic("dynamic", "mk", "kn", "mn", s, "zero",
                             dynamic=True), "mk,kn->mn", "zero"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("opt")
    ap.add_argument("run")
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(11)
    failures = 0
    for name, (text, shapes), eq, acc in cases():
        src = os.path.join(a.work, name + ".mlir")
        with open(src, "w") as f:
            f.write(text)
        lowered = subprocess.run(
            [a.opt, src, "--convert-matmul-to-runtime"], check=True,
            capture_output=True, text=True).stdout
        if "call @onebit_matmul_f32" not in lowered:
            print(f"FAIL {name}: not rewritten")
            failures += 1
            continue
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        paths = []
        for i, x in enumerate(xs):
            paths.append(os.path.join(a.work, f"{name}.in{i}.npy"))
            np.save(paths[-1], x)
        ops = [x.astype(np.float64) for x in xs]
        ref = np.einsum(eq, ops[0], ops[1])
        if acc == "arg":
            ref = ref + ops[2]
        elif acc == "fill":
            ref = ref + 0.5
        for backend in ("default", "builtin"):
            env = dict(os.environ)
            if backend == "builtin":
                env["ONEBIT_DENSE_BACKEND"] = "builtin"
            out = os.path.join(a.work, f"{name}.{backend}.out.npy")
            cmd = [a.run, src, "--output", out]
            for p in paths:
                cmd += ["--input", p]
            subprocess.run(cmd, check=True, env=env)
            y = np.load(out).astype(np.float64)
            err = (np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30)
                   if y.shape == ref.shape else float("inf"))
            ok = err <= 1e-5
            failures += not ok
            print(f"{'ok' if ok else 'FAIL'} {name} {backend} {eq} "
                  f"{[list(s) for s in shapes]} acc={acc} rel_err={err:.2e}")
    print(f"matmul-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
