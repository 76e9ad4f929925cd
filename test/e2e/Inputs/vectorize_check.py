"""End-to-end numerics of the CPU pipeline's vectorized loops
(onebit-vectorize): softmax, RMS norm, reductions along outer and inner
dimensions, a causal mask built from linalg.index, copies into strided halves
(a RoPE-style concatenation), polynomial tanh/erf chains, i32 arithmetic, and
ops left to scalar loops (innermost extents 4 and 12), each run with
onebit-run and compared with numpy.
usage: vectorize_check.py ONEBIT_RUN --work DIR
Writes DIR/cases.mlir (one public function per case) and prints one line per
case.
"""
import argparse
import math
import os
import subprocess
import sys

import numpy as np

MAP2 = "affine_map<(d0, d1) -> (d0, d1)>"
MAP3 = "affine_map<(d0, d1, d2) -> (d0, d1, d2)>"


def generic(ins, outs, maps, iters, body, result):
    """A linalg.generic on tensors; ins/outs are (value, type) pairs."""
    ivals = ", ".join(v for v, _ in ins)
    itys = ", ".join(t for _, t in ins)
    ovals = ", ".join(v for v, _ in outs)
    otys = ", ".join(t for _, t in outs)
    its = ", ".join(f'"{i}"' for i in iters)
    ins_clause = f"ins({ivals} : {itys}) " if ins else ""
    return (f"linalg.generic {{indexing_maps = [{', '.join(maps)}], "
            f"iterator_types = [{its}]}} {ins_clause}"
            f"outs({ovals} : {otys}) {{\n{body}\n  }} -> {result}")


def filled(value, ty):
    """%z, a tensor of type TY filled with the f32 VALUE (a reduction's
    initial accumulator)."""
    return (f"  %c0 = arith.constant {value} : f32\n"
            f"  %z0 = tensor.empty() : {ty}\n"
            f"  %z = linalg.fill ins(%c0 : f32) outs(%z0 : {ty}) -> {ty}")


CASES = {}


def case(name, args, results, text, inputs, ref, tol=2e-5):
    CASES[name] = (args, results, text, inputs, ref, tol)


def build(rng):
    # 1. linalg.softmax over the innermost dimension (max, exp, sum, div).
    x = rng.standard_normal((6, 5, 96)).astype(np.float32) * 3
    case("softmax", ["%x: tensor<6x5x96xf32>"], "tensor<6x5x96xf32>", """
  %e = tensor.empty() : tensor<6x5x96xf32>
  %y = linalg.softmax dimension(2) ins(%x : tensor<6x5x96xf32>) outs(%e : tensor<6x5x96xf32>) -> tensor<6x5x96xf32>
  return %y : tensor<6x5x96xf32>""", [x],
         lambda x: np.exp(x - x.max(-1, keepdims=True)) /
         np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))

    # 2. RMS norm: a sum of squares along the innermost dimension, then a
    # product with a per-row scale and a broadcast weight.
    x = rng.standard_normal((4, 64, 128)).astype(np.float32)
    w = rng.standard_normal(128).astype(np.float32)
    red = generic([("%x", "tensor<4x64x128xf32>")],
                  [("%z", "tensor<4x64xf32>")],
                  [MAP3, "affine_map<(d0, d1, d2) -> (d0, d1)>"],
                  ["parallel", "parallel", "reduction"], """
  ^bb0(%a: f32, %acc: f32):
    %0 = arith.mulf %a, %a : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32""", "tensor<4x64xf32>")
    norm = generic([("%x", "tensor<4x64x128xf32>"), ("%s", "tensor<4x64xf32>"),
                    ("%w", "tensor<128xf32>")],
                   [("%e", "tensor<4x64x128xf32>")],
                   [MAP3, "affine_map<(d0, d1, d2) -> (d0, d1)>",
                    "affine_map<(d0, d1, d2) -> (d2)>", MAP3],
                   ["parallel"] * 3, """
  ^bb0(%a: f32, %ss: f32, %wt: f32, %o: f32):
    %n = arith.constant 128.0 : f32
    %eps = arith.constant 1.0e-6 : f32
    %0 = arith.divf %ss, %n : f32
    %1 = arith.addf %0, %eps : f32
    %2 = math.rsqrt %1 : f32
    %3 = arith.mulf %a, %2 : f32
    %4 = arith.mulf %3, %wt : f32
    linalg.yield %4 : f32""", "tensor<4x64x128xf32>")
    case("rmsnorm", ["%x: tensor<4x64x128xf32>", "%w: tensor<128xf32>"],
         "tensor<4x64x128xf32>", f"""
{filled('0.0', 'tensor<4x64xf32>')}
  %s = {red}
  %e = tensor.empty() : tensor<4x64x128xf32>
  %y = {norm}
  return %y : tensor<4x64x128xf32>""", [x, w],
         lambda x, w: x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True)
                                  + 1e-6) * w)

    # 3. A column sum of products (the gradient of g): a reduction along the
    # outer dimension, 40 columns (vectors of 8).
    a = rng.standard_normal((96, 40)).astype(np.float32)
    b = rng.standard_normal((96, 40)).astype(np.float32)
    colsum = generic([("%a", "tensor<96x40xf32>"), ("%b", "tensor<96x40xf32>")],
                     [("%z", "tensor<40xf32>")],
                     [MAP2, MAP2, "affine_map<(d0, d1) -> (d1)>"],
                     ["reduction", "parallel"], """
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %0 = arith.mulf %p, %q : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32""", "tensor<40xf32>")
    case("column_sum", ["%a: tensor<96x40xf32>", "%b: tensor<96x40xf32>"],
         "tensor<40xf32>", f"""
{filled('0.0', 'tensor<40xf32>')}
  %y = {colsum}
  return %y : tensor<40xf32>""", [a, b], lambda a, b: (a.astype(np.float64) * b).sum(0))

    # 4. A maximum along the outer dimension.
    a = rng.standard_normal((33, 64)).astype(np.float32)
    colmax = generic([("%a", "tensor<33x64xf32>")], [("%z", "tensor<64xf32>")],
                     [MAP2, "affine_map<(d0, d1) -> (d1)>"],
                     ["reduction", "parallel"], """
  ^bb0(%p: f32, %acc: f32):
    %0 = arith.maximumf %acc, %p : f32
    linalg.yield %0 : f32""", "tensor<64xf32>")
    case("column_max", ["%a: tensor<33x64xf32>"], "tensor<64xf32>", f"""
{filled('0xFF800000', 'tensor<64xf32>')}
  %y = {colmax}
  return %y : tensor<64xf32>""", [a], lambda a: a.max(0))

    # 5. A causal mask from linalg.index.
    a = rng.standard_normal((64, 64)).astype(np.float32)
    mask = generic([("%a", "tensor<64x64xf32>")], [("%e", "tensor<64x64xf32>")],
                   [MAP2, MAP2], ["parallel", "parallel"], """
  ^bb0(%p: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c = arith.cmpi ule, %j, %i : index
    %ninf = arith.constant -1.0e9 : f32
    %0 = arith.select %c, %p, %ninf : f32
    linalg.yield %0 : f32""", "tensor<64x64xf32>")
    case("causal_mask", ["%a: tensor<64x64xf32>"], "tensor<64x64xf32>", f"""
  %e = tensor.empty() : tensor<64x64xf32>
  %y = {mask}
  return %y : tensor<64x64xf32>""", [a],
         lambda a: np.where(np.tril(np.ones((64, 64), bool)), a, np.float32(-1e9)))

    # 6. rotate_half: the halves of a [2, 8, 32] tensor swapped, one negated,
    # written into strided halves of the result.
    x = rng.standard_normal((2, 8, 32)).astype(np.float32)
    neg = generic([("%hi", "tensor<2x8x16xf32>")], [("%e0", "tensor<2x8x16xf32>")],
                  [MAP3, MAP3], ["parallel"] * 3, """
  ^bb0(%p: f32, %o: f32):
    %0 = arith.negf %p : f32
    linalg.yield %0 : f32""", "tensor<2x8x16xf32>")
    case("rotate_half", ["%x: tensor<2x8x32xf32>"], "tensor<2x8x32xf32>", f"""
  %lo = tensor.extract_slice %x[0, 0, 0] [2, 8, 16] [1, 1, 1] : tensor<2x8x32xf32> to tensor<2x8x16xf32>
  %hi = tensor.extract_slice %x[0, 0, 16] [2, 8, 16] [1, 1, 1] : tensor<2x8x32xf32> to tensor<2x8x16xf32>
  %e0 = tensor.empty() : tensor<2x8x16xf32>
  %n = {neg}
  %e = tensor.empty() : tensor<2x8x32xf32>
  %y0 = tensor.insert_slice %n into %e[0, 0, 0] [2, 8, 16] [1, 1, 1] : tensor<2x8x16xf32> into tensor<2x8x32xf32>
  %y = tensor.insert_slice %lo into %y0[0, 0, 16] [2, 8, 16] [1, 1, 1] : tensor<2x8x16xf32> into tensor<2x8x32xf32>
  return %y : tensor<2x8x32xf32>""", [x],
         lambda x: np.concatenate([-x[..., 16:], x[..., :16]], -1))

    # 7. GELU (tanh form) and erf: the polynomial approximations on vectors,
    # 200 columns (vectors of 8).
    x = (rng.standard_normal((3, 200)) * 2).astype(np.float32)
    gelu = generic([("%x", "tensor<3x200xf32>")], [("%e", "tensor<3x200xf32>")],
                   [MAP2, MAP2], ["parallel", "parallel"], """
  ^bb0(%p: f32, %o: f32):
    %half = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %k = arith.constant 0.797884583 : f32
    %c = arith.constant 0.044715 : f32
    %p3 = arith.mulf %p, %p : f32
    %p4 = arith.mulf %p3, %p : f32
    %t0 = arith.mulf %p4, %c : f32
    %t1 = arith.addf %p, %t0 : f32
    %t2 = arith.mulf %t1, %k : f32
    %th = math.tanh %t2 : f32
    %g0 = arith.addf %th, %one : f32
    %g1 = arith.mulf %g0, %half : f32
    %g = arith.mulf %g1, %p : f32
    %er = math.erf %p : f32
    %r = arith.addf %g, %er : f32
    linalg.yield %r : f32""", "tensor<3x200xf32>")
    erf = np.vectorize(math.erf)
    case("gelu_erf", ["%x: tensor<3x200xf32>"], "tensor<3x200xf32>", f"""
  %e = tensor.empty() : tensor<3x200xf32>
  %y = {gelu}
  return %y : tensor<3x200xf32>""", [x],
         lambda x: 0.5 * x * (1 + np.tanh(0.797884583 * (x + 0.044715 * x.astype(np.float64) ** 3)))
         + erf(x.astype(np.float64)), tol=1e-5)

    # 8. i32 arithmetic.
    a = rng.integers(-1000, 1000, (4, 64)).astype(np.int32)
    b = rng.integers(-1000, 1000, (4, 64)).astype(np.int32)
    imad = generic([("%a", "tensor<4x64xi32>"), ("%b", "tensor<4x64xi32>")],
                   [("%e", "tensor<4x64xi32>")], [MAP2, MAP2, MAP2],
                   ["parallel", "parallel"], """
  ^bb0(%p: i32, %q: i32, %o: i32):
    %0 = arith.muli %p, %q : i32
    %1 = arith.addi %0, %p : i32
    linalg.yield %1 : i32""", "tensor<4x64xi32>")
    case("i32_madd", ["%a: tensor<4x64xi32>", "%b: tensor<4x64xi32>"],
         "tensor<4x64xi32>", f"""
  %e = tensor.empty() : tensor<4x64xi32>
  %y = {imad}
  return %y : tensor<4x64xi32>""", [a, b], lambda a, b: a * b + a, tol=0)

    # 9. Left to scalar loops: innermost extents 12 (ragged) and 4 (narrow).
    for name, shape in (("ragged", (5, 12)), ("narrow", (7, 4))):
        a = rng.standard_normal(shape).astype(np.float32)
        t = f"tensor<{shape[0]}x{shape[1]}xf32>"
        sq = generic([("%a", t)], [("%e", t)], [MAP2, MAP2],
                     ["parallel", "parallel"], """
  ^bb0(%p: f32, %o: f32):
    %0 = arith.mulf %p, %p : f32
    %1 = math.exp %p : f32
    %2 = arith.addf %0, %1 : f32
    linalg.yield %2 : f32""", t)
        case(name, [f"%a: {t}"], t, f"""
  %e = tensor.empty() : {t}
  %y = {sq}
  return %y : {t}""", [a], lambda a: a.astype(np.float64) ** 2 + np.exp(a.astype(np.float64)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    build(np.random.default_rng(5))
    src = os.path.join(a.work, "cases.mlir")
    with open(src, "w") as f:
        for name, (args, result, text, _, _, _) in CASES.items():
            f.write(f"func.func @{name}({', '.join(args)}) -> {result} {{"
                    f"{text}\n}}\n")
    failures = 0
    for name, (_, _, _, inputs, ref, tol) in CASES.items():
        cmd = [a.run, src, "--entry", name]
        for i, x in enumerate(inputs):
            p = os.path.join(a.work, f"{name}.in{i}.npy")
            np.save(p, x)
            cmd += ["--input", p]
        out = os.path.join(a.work, f"{name}.out.npy")
        r = subprocess.run(cmd + ["--output", out], capture_output=True,
                           text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: onebit-run failed:\n{r.stderr}")
            failures += 1
            continue
        y = np.load(out)
        want = np.asarray(ref(*inputs))
        if y.shape != want.shape:
            print(f"FAIL {name}: shape {y.shape} != {want.shape}")
            failures += 1
            continue
        if tol == 0:
            err = float(np.abs(y.astype(np.int64) - want.astype(np.int64)).max())
        else:
            err = float(np.abs(y.astype(np.float64) - want).max() /
                        max(np.abs(want).max(), 1e-30))
        ok = err <= tol
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'} {name} {list(y.shape)} "
              f"max_rel_err={err:.2e} (tol {tol:g})")
    print(f"vectorize-check: {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
