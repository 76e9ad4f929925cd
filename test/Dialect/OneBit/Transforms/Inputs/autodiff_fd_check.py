"""Finite-difference checks of --onebit-autodiff, one case per rule family.

Each case is a small f64 function @f(args) -> tensor<f64> (a weighted sum of
the tested op's result with a fixed random tensor, so every entry of the
Jacobian matters). The driver runs onebit-opt --onebit-autodiff, adds for each
differentiated argument a function computing its gradient by central finite
differences (an scf.for over the elements calling @f twice), compiles it all
with onebit-run (the CPU pipeline) and compares the two gradients.

usage: autodiff_fd_check.py ONEBIT_OPT ONEBIT_RUN --work DIR [--case NAME]...
prints `ok NAME family max_rel_err` or `FAIL ...` per case, then a summary.
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np

EPS = 1e-6
TOL = 1e-6


def ttype(shape):
    if shape == ():
        return "tensor<f64>"
    return "tensor<" + "x".join("?" if s is None else str(s)
                               for s in shape) + "xf64>"


def amap(n, res):
    dims = ", ".join(f"d{i}" for i in range(n))
    return f"affine_map<({dims}) -> ({', '.join(res)})>"


def weighted_sum(out, shape, r):
    """MLIR computing sum(out * r) into %loss."""
    n = len(shape)
    dims = [f"d{i}" for i in range(n)]
    red = ", ".join(['"reduction"'] * n)
    return f"""
  %ws_z = arith.constant 0.0 : f64
  %ws_e = tensor.empty() : tensor<f64>
  %ws_f = linalg.fill ins(%ws_z : f64) outs(%ws_e : tensor<f64>) -> tensor<f64>
  %loss = linalg.generic {{indexing_maps = [{amap(n, dims)}, {amap(n, dims)}, {amap(n, [])}],
                          iterator_types = [{red}]}}
      ins({out}, {r} : {ttype(shape)}, {ttype(shape)}) outs(%ws_f : tensor<f64>) {{
  ^bb0(%ws_a: f64, %ws_b: f64, %ws_acc: f64):
    %ws_p = arith.mulf %ws_a, %ws_b : f64
    %ws_s = arith.addf %ws_acc, %ws_p : f64
    linalg.yield %ws_s : f64
  }} -> tensor<f64>
  return %loss : tensor<f64>
"""


class Case:
    """args: list of (name, shape, kind); kind is 'x' (differentiated,
    normal), 'pos' (differentiated, in [0.5, 2]), 'c' (fixed, normal),
    'i:N' (fixed int64 in [0, N)). `body` computes `out` of `out_shape`;
    `dyn` maps an argument name to the dynamic type @f declares for it;
    `helpers` are functions @f calls, and `checkpoint` differentiates those
    calls with checkpoint-activations=true (the adjoint recomputes)."""

    def __init__(self, name, family, args, body, out, out_shape, dyn=None,
                 helpers="", checkpoint=False):
        self.name, self.family, self.args = name, family, args
        self.body, self.out, self.out_shape = body, out, out_shape
        self.dyn = dyn or {}
        self.helpers, self.checkpoint = helpers, checkpoint

    def arg_type(self, a, for_f):
        name, shape, kind = a
        if kind.startswith("i:"):
            return "tensor<" + "x".join(map(str, shape)) + "xi64>"
        if for_f and name in self.dyn:
            return ttype(self.dyn[name])
        return ttype(shape)

    def wrt(self):
        return [i for i, a in enumerate(self.args) if a[2] in ("x", "pos")]

    def func(self):
        params = [f"%{a[0]}: {self.arg_type(a, True)}" for a in self.args]
        params.append(f"%ws_r: {ttype(self.out_shape)}")
        return (f"func.func @f({', '.join(params)}) -> tensor<f64> {{\n" +
                self.body + weighted_sum(self.out, self.out_shape, "%ws_r") +
                "}\n" + self.helpers)


def fd_func(case, j):
    """@fd_j: central differences of @f with respect to argument j."""
    name, shape, _ = case.args[j]
    n = int(np.prod(shape)) if shape else 1
    flat_t = f"tensor<{n}xf64>"
    all_args = case.args + [("r", case.out_shape, "c")]
    params = ", ".join(f"%a{i}: {case.arg_type(a, False)}"
                       for i, a in enumerate(all_args))
    rank = len(shape)
    if rank == 0:
        flat = f"%flat = tensor.expand_shape %a{j} [] output_shape [1] : tensor<f64> into {flat_t}"
        unflat = lambda v, o: f"{o} = tensor.collapse_shape {v} [] : {flat_t} into tensor<f64>"
    elif rank == 1:
        flat = f"%flat = tensor.cast %a{j} : {ttype(shape)} to {flat_t}"
        unflat = lambda v, o: f"{o} = tensor.cast {v} : {flat_t} to {ttype(shape)}"
    else:
        grp = "[[" + ", ".join(map(str, range(rank))) + "]]"
        flat = f"%flat = tensor.collapse_shape %a{j} {grp} : {ttype(shape)} into {flat_t}"
        unflat = lambda v, o: (f"{o} = tensor.expand_shape {v} {grp} output_shape "
                               f"[{', '.join(map(str, shape))}] : {flat_t} into {ttype(shape)}")

    def call(sfx, xv):
        ops, vals = [], []
        for i, a in enumerate(all_args):
            v = xv if i == j else f"%a{i}"
            st, ft = case.arg_type(a, False), case.arg_type(a, True)
            if i == len(all_args) - 1:
                ft = st
            if st != ft:
                ops.append(f"    %c{sfx}{i} = tensor.cast {v} : {st} to {ft}")
                v = f"%c{sfx}{i}"
            vals.append(v)
        ftypes = [case.arg_type(a, True) for a in case.args] + [ttype(case.out_shape)]
        ops.append(f"    %l{sfx} = func.call @f({', '.join(vals)}) : "
                   f"({', '.join(ftypes)}) -> tensor<f64>")
        ops.append(f"    %s{sfx} = tensor.extract %l{sfx}[] : tensor<f64>")
        return "\n".join(ops)

    return f"""
func.func @fd_{j}({params}) -> {flat_t} {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cn = arith.constant {n} : index
  %eps = arith.constant {EPS:.6e} : f64
  %inv = arith.constant {1.0 / (2 * EPS):.6e} : f64
  {flat}
  %init = tensor.empty() : {flat_t}
  %res = scf.for %i = %c0 to %cn step %c1 iter_args(%acc = %init) -> ({flat_t}) {{
    %v = tensor.extract %flat[%i] : {flat_t}
    %vp = arith.addf %v, %eps : f64
    %vm = arith.subf %v, %eps : f64
    %fp = tensor.insert %vp into %flat[%i] : {flat_t}
    %fm = tensor.insert %vm into %flat[%i] : {flat_t}
    {unflat('%fp', '%xp')}
    {unflat('%fm', '%xm')}
{call('p', '%xp')}
{call('m', '%xm')}
    %d = arith.subf %sp, %sm : f64
    %g = arith.mulf %d, %inv : f64
    %acc2 = tensor.insert %g into %acc[%i] : {flat_t}
    scf.yield %acc2 : {flat_t}
  }}
  return %res : {flat_t}
}}
"""


def check_func(case, grad_sig):
    """@check(args) -> (grads..., fds...) calling @f_grad and every @fd_j."""
    all_args = case.args + [("r", case.out_shape, "c")]
    params = ", ".join(f"%a{i}: {case.arg_type(a, False)}"
                       for i, a in enumerate(all_args))
    wrt = case.wrt()
    lines, vals = [], []
    for i, a in enumerate(all_args):
        st = case.arg_type(a, False)
        ft = st if i == len(all_args) - 1 else case.arg_type(a, True)
        if st != ft:
            lines.append(f"  %k{i} = tensor.cast %a{i} : {st} to {ft}")
            vals.append(f"%k{i}")
        else:
            vals.append(f"%a{i}")
    in_t, out_t = grad_sig
    lines.append(f"  %g:{len(out_t)} = func.call @f_grad({', '.join(vals)}) : "
                 f"({', '.join(in_t)}) -> ({', '.join(out_t)})")
    rets, rtypes = [], []
    for k, j in enumerate(wrt):
        st = case.arg_type(case.args[j], False)
        v = f"%g#{k + 1}"
        if out_t[k + 1] != st:
            lines.append(f"  %gc{k} = tensor.cast {v} : {out_t[k + 1]} to {st}")
            v = f"%gc{k}"
        rets.append(v)
        rtypes.append(st)
    for j in wrt:
        shape = case.args[j][1]
        n = int(np.prod(shape)) if shape else 1
        lines.append(f"  %fd{j} = func.call @fd_{j}({', '.join('%a' + str(i) for i in range(len(all_args)))}) : "
                     f"({', '.join(case.arg_type(a, False) for a in all_args)}) -> tensor<{n}xf64>")
        rets.append(f"%fd{j}")
        rtypes.append(f"tensor<{n}xf64>")
    return (f"func.func @check({params}) -> ({', '.join(rtypes)}) {{\n" +
            "\n".join(lines) +
            f"\n  return {', '.join(rets)} : {', '.join(rtypes)}\n}}\n")


def grad_signature(text):
    m = re.search(r"func\.func @f_grad\((.*?)\) -> \((.*?)\) \{", text)
    if not m:
        raise RuntimeError("no @f_grad in the output")
    ins = [t.split(": ", 1)[1] for t in re.split(r", (?=%arg)", m.group(1))]
    outs = re.findall(r"tensor<[^>]*>", m.group(2))
    return ins, outs


def make_inputs(case, rng):
    vals = []
    for name, shape, kind in case.args + [("r", case.out_shape, "c")]:
        if kind == "pos":
            v = rng.uniform(0.5, 2.0, size=shape)
        elif kind.startswith("i:"):
            v = rng.integers(0, int(kind[2:]), size=shape).astype(np.int64)
        else:
            v = rng.standard_normal(size=shape)
        vals.append(np.asarray(v))
    return vals


def run_case(case, opt, run, work, rng):
    d = os.path.join(work, case.name)
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "f.mlir")
    with open(src, "w") as fh:
        fh.write(case.func())
    wrt = ",".join(map(str, case.wrt()))
    # The forward @f keeps its onebit ops; the CPU pipeline takes them as
    # linalg.
    ckpt = " checkpoint-activations=true" if case.checkpoint else ""
    p = subprocess.run([opt, src, f"--onebit-autodiff=func=f wrt={wrt}{ckpt}",
                        "--onebit-decompose-train-form"],
                       capture_output=True, text=True)
    if p.returncode:
        return None, "onebit-opt failed:\n" + p.stderr
    text = p.stdout.rstrip()
    assert text.endswith("}")
    extra = "".join(fd_func(case, j) for j in case.wrt())
    extra += check_func(case, grad_signature(text))
    full = os.path.join(d, "check.mlir")
    with open(full, "w") as fh:
        fh.write(text[:-1] + extra + "}\n")
    vals = make_inputs(case, rng)
    cmd = [run, full, "--entry=check"]
    for i, v in enumerate(vals):
        fn = os.path.join(d, f"in{i}.npy")
        np.save(fn, v)
        cmd += ["--input", fn]
    nw = len(case.wrt())
    outs = [os.path.join(d, f"out{i}.npy") for i in range(2 * nw)]
    for o in outs:
        cmd += ["--output", o]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return None, "onebit-run failed:\n" + p.stderr
    worst = 0.0
    for k in range(nw):
        g = np.load(outs[k]).reshape(-1)
        fd = np.load(outs[nw + k]).reshape(-1)
        scale = max(np.abs(fd).max(), 1e-3)
        worst = max(worst, float(np.abs(g - fd).max() / scale))
    return worst, None


# --------------------------------------------------------------------------
# The cases.


def gather(n, rows):
    """`%emb[i, :] = %table[%ids[i], :]` (n ids, a rows x 4 table) and the
    tensor.empty `%e` it fills, as the importer lowers ONNX Gather."""
    return f"""  %e = tensor.empty() : tensor<{n}x4xf64>
  %emb = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}}
      ins(%ids : tensor<{n}xi64>) outs(%e : tensor<{n}x4xf64>) {{
  ^bb0(%id: i64, %o: f64):
    %r = arith.index_cast %id : i64 to index
    %c = linalg.index 1 : index
    %v = tensor.extract %table[%r, %c] : tensor<{rows}x4xf64>
    linalg.yield %v : f64
  }} -> tensor<{n}x4xf64>
"""

def ew(n_in, shapes_maps, out_shape, payload, name="out"):
    """An all-parallel linalg.generic; shapes_maps: [(value, type, map)]."""
    n = len(out_shape)
    dims = [f"d{i}" for i in range(n)]
    maps = ", ".join(m for _, _, m in shapes_maps) + ", " + amap(n, dims)
    ins = ", ".join(v for v, _, _ in shapes_maps)
    tys = ", ".join(t for _, t, _ in shapes_maps)
    bargs = ", ".join(f"%b{i}: f64" for i in range(len(shapes_maps)))
    par = ", ".join(['"parallel"'] * n)
    return f"""
  %{name}_e = tensor.empty() : {ttype(out_shape)}
  %{name} = linalg.generic {{indexing_maps = [{maps}], iterator_types = [{par}]}}
      ins({ins} : {tys}) outs(%{name}_e : {ttype(out_shape)}) {{
  ^bb0({bargs}, %bo: f64):
{payload}
  }} -> {ttype(out_shape)}
"""


S = (3, 4)
T = ttype(S)
ID = amap(2, ["d0", "d1"])


def unary_case(name, op, kind="x"):
    return Case(f"unary-{name}", "elementwise unary", [("x", S, kind)],
                ew(1, [("%x", T, ID)], S,
                   f"    %y = {op} %b0 : f64\n    linalg.yield %y : f64"),
                "%out", S)


CASES = [
    unary_case("exp", "math.exp"),
    unary_case("log", "math.log", "pos"),
    unary_case("tanh", "math.tanh"),
    unary_case("rsqrt", "math.rsqrt", "pos"),
    unary_case("sqrt", "math.sqrt", "pos"),
    unary_case("erf", "math.erf"),
    unary_case("absf", "math.absf"),
    unary_case("negf", "arith.negf"),
    unary_case("log1p", "math.log1p", "pos"),
    unary_case("sin", "math.sin"),
    unary_case("cos", "math.cos"),
    unary_case("exp2", "math.exp2"),
    unary_case("expm1", "math.expm1"),
    Case("binary-arith", "elementwise binary",
         [("a", S, "x"), ("b", S, "pos"), ("c", S, "x"), ("d", S, "x")],
         ew(4, [("%a", T, ID), ("%b", T, ID), ("%c", T, ID), ("%d", T, ID)], S,
            """    %q = arith.divf %b0, %b1 : f64
    %m = arith.mulf %q, %b2 : f64
    %s = arith.subf %m, %b3 : f64
    %t = arith.addf %s, %b0 : f64
    linalg.yield %t : f64"""), "%out", S),
    Case("binary-powf", "elementwise binary",
         [("a", S, "pos"), ("b", S, "x")],
         ew(2, [("%a", T, ID), ("%b", T, ID)], S,
            "    %p = math.powf %b0, %b1 : f64\n    linalg.yield %p : f64"),
         "%out", S),
    Case("binary-maxmin-select", "elementwise binary",
         [("a", S, "x"), ("b", S, "x"), ("c", S, "x")],
         ew(3, [("%a", T, ID), ("%b", T, ID), ("%c", T, ID)], S,
            """    %mx = arith.maximumf %b0, %b1 : f64
    %mn = arith.minimumf %b1, %b2 : f64
    %z = arith.constant 0.0 : f64
    %gt = arith.cmpf ogt, %b2, %z : f64
    %sel = arith.select %gt, %mx, %mn : f64
    %r = arith.mulf %sel, %b0 : f64
    linalg.yield %r : f64"""), "%out", S),
    Case("tensor-arith", "elementwise on tensors",
         [("a", S, "x"), ("b", S, "x")],
         """  %p = arith.mulf %a, %b : tensor<3x4xf64>
  %q = math.exp %p : tensor<3x4xf64>
  %out = arith.subf %q, %a : tensor<3x4xf64>
""", "%out", S),
    Case("named-elementwise", "elementwise on tensors",
         [("a", S, "x"), ("b", S, "x")],
         """  %e = tensor.empty() : tensor<3x4xf64>
  %m = linalg.mul ins(%a, %b : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %x = linalg.exp ins(%m : tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %out = linalg.add ins(%x, %a : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
""", "%out", S),
    Case("broadcast-maps", "broadcast",
         [("x", S, "x"), ("row", (4,), "x"), ("col", (3,), "x"),
          ("one", (1, 4), "x"), ("s", (), "x")],
         ew(5, [("%x", T, ID), ("%row", "tensor<4xf64>", amap(2, ["d1"])),
                ("%col", "tensor<3xf64>", amap(2, ["d0"])),
                ("%one", "tensor<1x4xf64>", amap(2, ["0", "d1"])),
                ("%s", "tensor<f64>", amap(2, []))], S,
            """    %a = arith.addf %b0, %b1 : f64
    %m = arith.mulf %a, %b2 : f64
    %n = arith.mulf %m, %b3 : f64
    %o = arith.subf %n, %b4 : f64
    %p = arith.mulf %o, %b4 : f64
    linalg.yield %p : f64"""), "%out", S),
    Case("broadcast-named", "broadcast",
         [("v", (4,), "x")],
         """  %e = tensor.empty() : tensor<3x4xf64>
  %out = linalg.broadcast ins(%v : tensor<4xf64>) outs(%e : tensor<3x4xf64>) dimensions = [0]
""", "%out", S),
    Case("scalar-extract", "scalars",
         [("x", S, "x"), ("t", (2,), "x")],
         """  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s0 = tensor.extract %t[%c0] : tensor<2xf64>
  %s1 = tensor.extract %t[%c1] : tensor<2xf64>
  %s = arith.mulf %s0, %s1 : f64
  %se = math.exp %s : f64
""" + ew(2, [("%x", T, ID), ("%se", "f64", amap(2, []))], S,
                "    %m = arith.mulf %b0, %b1 : f64\n    linalg.yield %m : f64"),
         "%out", S),
    Case("reduce-sum", "reductions",
         [("x", (3, 4, 5), "x")],
         """  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<3x5xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<3x5xf64>) -> tensor<3x5xf64>
  %out = linalg.reduce ins(%x : tensor<3x4x5xf64>) outs(%f : tensor<3x5xf64>) dimensions = [1]
    (%in: f64, %acc: f64) {
      %sq = arith.mulf %in, %in : f64
      %s = arith.addf %acc, %sq : f64
      linalg.yield %s : f64
    }
""", "%out", (3, 5)),
    Case("reduce-keepdims", "reductions",
         [("x", S, "x"), ("init", (3, 1), "x")],
         """  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>],
                        iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf64>) outs(%init : tensor<3x1xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %t = math.tanh %a : f64
    %s = arith.addf %t, %acc : f64
    linalg.yield %s : f64
  } -> tensor<3x1xf64>
""", "%out", (3, 1)),
    Case("reduce-max", "reductions",
         [("x", S, "x")],
         """  %ninf = arith.constant 0xFFF0000000000000 : f64
  %e = tensor.empty() : tensor<3xf64>
  %f = linalg.fill ins(%ninf : f64) outs(%e : tensor<3xf64>) -> tensor<3xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                        iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf64>) outs(%f : tensor<3xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %m = arith.maximumf %acc, %a : f64
    linalg.yield %m : f64
  } -> tensor<3xf64>
""", "%out", (3,)),
    Case("reduce-min", "reductions",
         [("x", S, "x")],
         """  %inf = arith.constant 0x7FF0000000000000 : f64
  %e = tensor.empty() : tensor<4xf64>
  %f = linalg.fill ins(%inf : f64) outs(%e : tensor<4xf64>) -> tensor<4xf64>
  %out = linalg.reduce ins(%x : tensor<3x4xf64>) outs(%f : tensor<4xf64>) dimensions = [0]
    (%in: f64, %acc: f64) {
      %m = arith.minimumf %in, %acc : f64
      linalg.yield %m : f64
    }
""", "%out", (4,)),
    Case("matmul", "contractions",
         [("a", (3, 5), "x"), ("b", (5, 4), "x")],
         """  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<3x4xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %out = linalg.matmul ins(%a, %b : tensor<3x5xf64>, tensor<5x4xf64>) outs(%f : tensor<3x4xf64>) -> tensor<3x4xf64>
""", "%out", S),
    Case("matmul-transposed-acc", "contractions",
         [("a", (3, 5), "x"), ("w", (4, 5), "x"), ("c", S, "x")],
         """  %out = linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>,
                                        affine_map<(d0, d1, d2) -> (d1, d2)>,
                                        affine_map<(d0, d1, d2) -> (d0, d1)>]
      ins(%a, %w : tensor<3x5xf64>, tensor<4x5xf64>) outs(%c : tensor<3x4xf64>) -> tensor<3x4xf64>
""", "%out", S),
    Case("batch-matmul", "contractions",
         [("a", (2, 3, 5), "x"), ("b", (2, 5, 4), "x")],
         """  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<2x3x4xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %out = linalg.batch_matmul ins(%a, %b : tensor<2x3x5xf64>, tensor<2x5x4xf64>) outs(%f : tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
""", "%out", (2, 3, 4)),
    Case("contraction-shared-weight", "contractions",
         [("x", (2, 3, 5), "x"), ("w", (5, 4), "x")],
         """  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<2x3x4xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>,
                                          affine_map<(b, m, n, k) -> (b, m, n)>],
                        iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<2x3x5xf64>, tensor<5x4xf64>) outs(%f : tensor<2x3x4xf64>) {
  ^bb0(%a: f64, %b: f64, %acc: f64):
    %p = arith.mulf %a, %b : f64
    %s = arith.addf %acc, %p : f64
    linalg.yield %s : f64
  } -> tensor<2x3x4xf64>
""", "%out", (2, 3, 4)),
    Case("reshape-ops", "structural",
         [("x", (2, 6), "x")],
         """  %a = tensor.expand_shape %x [[0], [1, 2]] output_shape [2, 2, 3] : tensor<2x6xf64> into tensor<2x2x3xf64>
  %e = tensor.empty() : tensor<3x2x2xf64>
  %t = linalg.transpose ins(%a : tensor<2x2x3xf64>) outs(%e : tensor<3x2x2xf64>) permutation = [2, 0, 1]
  %c = tensor.collapse_shape %t [[0, 1], [2]] : tensor<3x2x2xf64> into tensor<6x2xf64>
  %shape = arith.constant dense<[3, 4]> : tensor<2xi64>
  %r = tensor.reshape %c(%shape) : (tensor<6x2xf64>, tensor<2xi64>) -> tensor<3x4xf64>
  %d = tensor.cast %r : tensor<3x4xf64> to tensor<?x4xf64>
  %out = tensor.cast %d : tensor<?x4xf64> to tensor<3x4xf64>
""", "%out", S),
    Case("slices", "structural",
         [("x", (5, 7), "x"), ("y", (2, 2), "x")],
         """  %a = tensor.extract_slice %x[1, 0] [3, 4] [1, 2] : tensor<5x7xf64> to tensor<3x4xf64>
  %b = tensor.extract_slice %x[0, 1] [3, 4] [1, 1] : tensor<5x7xf64> to tensor<3x4xf64>
  %e = tensor.empty() : tensor<3x4xf64>
  %s = linalg.mul ins(%a, %b : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %row = tensor.extract_slice %x[4, 0] [1, 4] [1, 1] : tensor<5x7xf64> to tensor<4xf64>
  %i = tensor.insert_slice %y into %s[1, 1] [2, 2] [1, 1] : tensor<2x2xf64> into tensor<3x4xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%i, %row : tensor<3x4xf64>, tensor<4xf64>) outs(%e : tensor<3x4xf64>) {
  ^bb0(%p: f64, %q: f64, %o: f64):
    %m = arith.mulf %p, %q : f64
    linalg.yield %m : f64
  } -> tensor<3x4xf64>
""", "%out", S),
    Case("concat-pad", "structural",
         [("a", (3, 1), "x"), ("b", (3, 2), "x"), ("c", (1, 2), "x")],
         """  %cat = tensor.concat dim(1) %a, %b : (tensor<3x1xf64>, tensor<3x2xf64>) -> tensor<3x3xf64>
  %z = arith.constant 0.5 : f64
  %p = tensor.pad %c low[1, 1] high[1, 0] {
  ^bb0(%i: index, %j: index):
    tensor.yield %z : f64
  } : tensor<1x2xf64> to tensor<3x3xf64>
  %e = tensor.empty() : tensor<3x3xf64>
  %s = linalg.mul ins(%cat, %p : tensor<3x3xf64>, tensor<3x3xf64>) outs(%e : tensor<3x3xf64>) -> tensor<3x3xf64>
  %out = tensor.concat dim(0) %s, %cat : (tensor<3x3xf64>, tensor<3x3xf64>) -> tensor<6x3xf64>
""", "%out", (6, 3)),
    Case("dynamic-shapes", "structural",
         [("x", (3, 4), "x"), ("w", (4, 2), "x")],
         """  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x4xf64>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty(%m) : tensor<?x2xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<?x2xf64>) -> tensor<?x2xf64>
  %y = linalg.matmul ins(%x, %w : tensor<?x4xf64>, tensor<4x2xf64>) outs(%f : tensor<?x2xf64>) -> tensor<?x2xf64>
  %c = tensor.collapse_shape %y [[0, 1]] : tensor<?x2xf64> into tensor<?xf64>
  %t = math.tanh %c : tensor<?xf64>
  %out = tensor.cast %t : tensor<?xf64> to tensor<6xf64>
""", "%out", (6,), dyn={"x": (None, 4)}),
    Case("fan-out", "accumulation",
         [("x", S, "x")],
         """  %e = tensor.empty() : tensor<3x4xf64>
  %a = linalg.exp ins(%x : tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %b = linalg.mul ins(%a, %x : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %c = linalg.mul ins(%b, %b : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %out = linalg.add ins(%c, %x : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
""", "%out", S),
    Case("softmax", "composites",
         [("x", S, "x")],
         """  %e = tensor.empty() : tensor<3x4xf64>
  %out = linalg.softmax dimension(1) ins(%x : tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
""", "%out", S),
    Case("log-softmax", "composites",
         [("x", S, "x")],
         """  %ninf = arith.constant 0xFFF0000000000000 : f64
  %z = arith.constant 0.0 : f64
  %e1 = tensor.empty() : tensor<3xf64>
  %f1 = linalg.fill ins(%ninf : f64) outs(%e1 : tensor<3xf64>) -> tensor<3xf64>
  %mx = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf64>) outs(%f1 : tensor<3xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %m = arith.maximumf %a, %acc : f64
    linalg.yield %m : f64
  } -> tensor<3xf64>
  %f2 = linalg.fill ins(%z : f64) outs(%e1 : tensor<3xf64>) -> tensor<3xf64>
  %se = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x, %mx : tensor<3x4xf64>, tensor<3xf64>) outs(%f2 : tensor<3xf64>) {
  ^bb0(%a: f64, %m: f64, %acc: f64):
    %d = arith.subf %a, %m : f64
    %ex = math.exp %d : f64
    %s = arith.addf %acc, %ex : f64
    linalg.yield %s : f64
  } -> tensor<3xf64>
  %e = tensor.empty() : tensor<3x4xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%x, %mx, %se : tensor<3x4xf64>, tensor<3xf64>, tensor<3xf64>) outs(%e : tensor<3x4xf64>) {
  ^bb0(%a: f64, %m: f64, %s: f64, %o: f64):
    %l = math.log %s : f64
    %d = arith.subf %a, %m : f64
    %r = arith.subf %d, %l : f64
    linalg.yield %r : f64
  } -> tensor<3x4xf64>
""", "%out", S),
    Case("rmsnorm", "composites",
         [("x", S, "x"), ("w", (4,), "x")],
         """  %z = arith.constant 0.0 : f64
  %e1 = tensor.empty() : tensor<3xf64>
  %f1 = linalg.fill ins(%z : f64) outs(%e1 : tensor<3xf64>) -> tensor<3xf64>
  %ss = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x4xf64>) outs(%f1 : tensor<3xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %sq = arith.mulf %a, %a : f64
    %s = arith.addf %acc, %sq : f64
    linalg.yield %s : f64
  } -> tensor<3xf64>
  %e = tensor.empty() : tensor<3x4xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%x, %ss, %w : tensor<3x4xf64>, tensor<3xf64>, tensor<4xf64>) outs(%e : tensor<3x4xf64>) {
  ^bb0(%a: f64, %s: f64, %g: f64, %o: f64):
    %n = arith.constant 4.0 : f64
    %eps = arith.constant 1.0e-5 : f64
    %ms = arith.divf %s, %n : f64
    %me = arith.addf %ms, %eps : f64
    %r = math.rsqrt %me : f64
    %y = arith.mulf %a, %r : f64
    %yg = arith.mulf %y, %g : f64
    linalg.yield %yg : f64
  } -> tensor<3x4xf64>
""", "%out", S),
    Case("layernorm", "composites",
         [("x", S, "x"), ("g", (4,), "x"), ("b", (4,), "x")],
         """  %z = arith.constant 0.0 : f64
  %e1 = tensor.empty() : tensor<3xf64>
  %f1 = linalg.fill ins(%z : f64) outs(%e1 : tensor<3xf64>) -> tensor<3xf64>
  %sum = linalg.reduce ins(%x : tensor<3x4xf64>) outs(%f1 : tensor<3xf64>) dimensions = [1]
    (%in: f64, %acc: f64) {
      %s = arith.addf %in, %acc : f64
      linalg.yield %s : f64
    }
  %e = tensor.empty() : tensor<3x4xf64>
  %c = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                      iterator_types = ["parallel", "parallel"]}
      ins(%x, %sum : tensor<3x4xf64>, tensor<3xf64>) outs(%e : tensor<3x4xf64>) {
  ^bb0(%a: f64, %s: f64, %o: f64):
    %n = arith.constant 4.0 : f64
    %m = arith.divf %s, %n : f64
    %d = arith.subf %a, %m : f64
    linalg.yield %d : f64
  } -> tensor<3x4xf64>
  %f2 = linalg.fill ins(%z : f64) outs(%e1 : tensor<3xf64>) -> tensor<3xf64>
  %var = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                        iterator_types = ["parallel", "reduction"]}
      ins(%c : tensor<3x4xf64>) outs(%f2 : tensor<3xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %sq = arith.mulf %a, %a : f64
    %s = arith.addf %acc, %sq : f64
    linalg.yield %s : f64
  } -> tensor<3xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%c, %var, %g, %b : tensor<3x4xf64>, tensor<3xf64>, tensor<4xf64>, tensor<4xf64>) outs(%e : tensor<3x4xf64>) {
  ^bb0(%a: f64, %v: f64, %gg: f64, %bb: f64, %o: f64):
    %n = arith.constant 4.0 : f64
    %eps = arith.constant 1.0e-5 : f64
    %vm = arith.divf %v, %n : f64
    %ve = arith.addf %vm, %eps : f64
    %sd = math.sqrt %ve : f64
    %y = arith.divf %a, %sd : f64
    %yg = arith.mulf %y, %gg : f64
    %yb = arith.addf %yg, %bb : f64
    linalg.yield %yb : f64
  } -> tensor<3x4xf64>
""", "%out", S),
    Case("rotary", "composites",
         [("x", (3, 4), "x"), ("cos", (3, 4), "c"), ("sin", (3, 4), "c")],
         """  %x1 = tensor.extract_slice %x[0, 0] [3, 2] [1, 1] : tensor<3x4xf64> to tensor<3x2xf64>
  %x2 = tensor.extract_slice %x[0, 2] [3, 2] [1, 1] : tensor<3x4xf64> to tensor<3x2xf64>
  %e2 = tensor.empty() : tensor<3x2xf64>
  %n2 = linalg.negf ins(%x2 : tensor<3x2xf64>) outs(%e2 : tensor<3x2xf64>) -> tensor<3x2xf64>
  %rot = tensor.concat dim(1) %n2, %x1 : (tensor<3x2xf64>, tensor<3x2xf64>) -> tensor<3x4xf64>
  %e = tensor.empty() : tensor<3x4xf64>
  %out = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%x, %cos, %rot, %sin : tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) {
  ^bb0(%a: f64, %c: f64, %r: f64, %s: f64, %o: f64):
    %p = arith.mulf %a, %c : f64
    %q = arith.mulf %r, %s : f64
    %t = arith.addf %p, %q : f64
    linalg.yield %t : f64
  } -> tensor<3x4xf64>
""", "%out", S),
    Case("causal-mask", "composites",
         [("x", (4, 4), "x")],
         """  %e = tensor.empty() : tensor<4x4xf64>
  %m = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x4xf64>) outs(%e : tensor<4x4xf64>) {
  ^bb0(%a: f64, %o: f64):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %gt = arith.cmpi ugt, %j, %i : index
    %ninf = arith.constant -1.0e9 : f64
    %r = arith.select %gt, %ninf, %a : f64
    linalg.yield %r : f64
  } -> tensor<4x4xf64>
  %out = linalg.softmax dimension(1) ins(%m : tensor<4x4xf64>) outs(%e : tensor<4x4xf64>) -> tensor<4x4xf64>
""", "%out", (4, 4)),
    Case("gather", "composites",
         [("ids", (3,), "i:5"), ("table", (5, 4), "c"), ("x", S, "x")],
         gather(3, 5) + """  %out = linalg.mul ins(%emb, %x : tensor<3x4xf64>, tensor<3x4xf64>) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
""", "%out", S),
    Case("gather-table", "composites",
         [("ids", (7,), "i:4"), ("table", (5, 4), "x"), ("x", (7, 4), "x")],
         gather(7, 5) + """  %p = linalg.mul ins(%emb, %x : tensor<7x4xf64>, tensor<7x4xf64>) outs(%e : tensor<7x4xf64>) -> tensor<7x4xf64>
  %out = linalg.mul ins(%p, %emb : tensor<7x4xf64>, tensor<7x4xf64>) outs(%e : tensor<7x4xf64>) -> tensor<7x4xf64>
""", "%out", (7, 4)),
    Case("attention", "composites",
         [("q", (2, 3, 4), "x"), ("k", (2, 3, 4), "x"), ("v", (2, 3, 4), "x")],
         """  %z = arith.constant 0.0 : f64
  %e1 = tensor.empty() : tensor<2x3x3xf64>
  %f1 = linalg.fill ins(%z : f64) outs(%e1 : tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %s = linalg.generic {indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>],
                      iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x3x4xf64>, tensor<2x3x4xf64>) outs(%f1 : tensor<2x3x3xf64>) {
  ^bb0(%a: f64, %bb: f64, %acc: f64):
    %p = arith.mulf %a, %bb : f64
    %r = arith.addf %acc, %p : f64
    linalg.yield %r : f64
  } -> tensor<2x3x3xf64>
  %sc = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x3x3xf64>) outs(%e1 : tensor<2x3x3xf64>) {
  ^bb0(%a: f64, %o: f64):
    %c = arith.constant 0.5 : f64
    %m = arith.mulf %a, %c : f64
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %gt = arith.cmpi ugt, %j, %i : index
    %ninf = arith.constant 0xFFF0000000000000 : f64
    %r = arith.select %gt, %ninf, %m : f64
    linalg.yield %r : f64
  } -> tensor<2x3x3xf64>
  %p = linalg.softmax dimension(2) ins(%sc : tensor<2x3x3xf64>) outs(%e1 : tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
  %e2 = tensor.empty() : tensor<2x3x4xf64>
  %f2 = linalg.fill ins(%z : f64) outs(%e2 : tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %out = linalg.batch_matmul ins(%p, %v : tensor<2x3x3xf64>, tensor<2x3x4xf64>) outs(%f2 : tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
""", "%out", (2, 3, 4)),
    Case("silu-gelu", "composites",
         [("x", S, "x"), ("y", S, "x")],
         ew(2, [("%x", T, ID), ("%y", T, ID)], S,
            """    %n = arith.negf %b0 : f64
    %ex = math.exp %n : f64
    %one = arith.constant 1.0 : f64
    %den = arith.addf %one, %ex : f64
    %silu = arith.divf %b0, %den : f64
    %r2 = arith.constant 0.7071067811865476 : f64
    %half = arith.constant 0.5 : f64
    %u = arith.mulf %b1, %r2 : f64
    %er = math.erf %u : f64
    %ep = arith.addf %er, %one : f64
    %h = arith.mulf %b1, %half : f64
    %gelu = arith.mulf %h, %ep : f64
    %r = arith.mulf %silu, %gelu : f64
    linalg.yield %r : f64"""), "%out", S),
    Case("train-layer", "binary_linear_train (exact part)",
         [("x", (2, 3, 8), "x"), ("w", (5, 8), "c"), ("g", (8,), "x"),
          ("h", (5,), "x"), ("b", (5,), "x")],
         """  %out = onebit.binary_linear_train %x, %w, %g, %h bias %b norm_eps = 1.0e-05
      : (tensor<2x3x8xf64>, tensor<5x8xf64>, tensor<8xf64>, tensor<5xf64>, tensor<5xf64>) -> tensor<2x3x5xf64>
""", "%out", (2, 3, 5)),
    Case("train-layer-nonorm", "binary_linear_train (exact part)",
         [("x", (4, 8), "x"), ("w", (3, 8), "c"), ("g", (8,), "x"),
          ("h", (3,), "x")],
         """  %out = onebit.binary_linear_train %x, %w, %g, %h
      : (tensor<4x8xf64>, tensor<3x8xf64>, tensor<8xf64>, tensor<3xf64>) -> tensor<4x3xf64>
""", "%out", (4, 3)),
]


# A layer called twice (its weight differentiated at the first call only,
# so two adjoints), returning two results of which the caller reads both of
# the first call's and one of the second's, with a nested call: the calls
# family, with the activations saved and recomputed.
LAYER = """
func.func private @act(%x: tensor<3x4xf64>) -> tensor<3x4xf64> {
  %t = math.tanh %x : tensor<3x4xf64>
  return %t : tensor<3x4xf64>
}
func.func private @layer(%x: tensor<3x4xf64>, %w: tensor<4x4xf64>, %g: tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>) {
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<3x4xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<3x4xf64>) -> tensor<3x4xf64>
  %y = linalg.matmul ins(%x, %w : tensor<3x4xf64>, tensor<4x4xf64>) outs(%f : tensor<3x4xf64>) -> tensor<3x4xf64>
  %a = func.call @act(%y) : (tensor<3x4xf64>) -> tensor<3x4xf64>
  %o = arith.mulf %a, %g : tensor<3x4xf64>
  %s = arith.addf %o, %x : tensor<3x4xf64>
  return %s, %y : tensor<3x4xf64>, tensor<3x4xf64>
}
"""
LAYER_BODY = """  %h1:2 = func.call @layer(%x, %w0, %g) : (tensor<3x4xf64>, tensor<4x4xf64>, tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>)
  %h2:2 = func.call @layer(%h1#0, %w1, %g) : (tensor<3x4xf64>, tensor<4x4xf64>, tensor<3x4xf64>) -> (tensor<3x4xf64>, tensor<3x4xf64>)
  %out = arith.mulf %h2#0, %h1#1 : tensor<3x4xf64>
"""
LAYER_ARGS = [("x", S, "x"), ("w0", (4, 4), "x"), ("w1", (4, 4), "c"),
              ("g", S, "x")]
CASES += [
    Case("call-saved", "calls", LAYER_ARGS, LAYER_BODY, "%out", S,
         helpers=LAYER),
    Case("call-recompute", "calls", LAYER_ARGS, LAYER_BODY, "%out", S,
         helpers=LAYER, checkpoint=True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("opt")
    ap.add_argument("run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--case", action="append", default=[])
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rng = np.random.default_rng(0)
    failures = 0
    worst = {}
    for case in CASES:
        if args.case and case.name not in args.case:
            continue
        err, msg = run_case(case, args.opt, args.run, args.work, rng)
        if msg is not None or err > TOL:
            failures += 1
            print(f"FAIL {case.name}: " + (msg if msg else f"max rel err {err:.3g}"))
            continue
        worst[case.family] = max(worst.get(case.family, 0.0), err)
        print(f"ok {case.name} [{case.family}] max rel err {err:.2e}")
    for fam, e in worst.items():
        print(f"family {fam}: max rel err {e:.2e}")
    print(f"autodiff-fd-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
