#!/usr/bin/env python3
"""Runs ONNX's backend node tests (Debian libonnx-testdata) through onebit.

For every node test whose operators are all in OPS: import model.onnx with
onebit-translate; when onebit-run is built, run each test_data_set_* on the
CPU runner and compare with the expected outputs. Prints pass counts per
operator and overall.

Baselines in this folder make regressions fail:
  imports.txt      tests that must import
  passing.txt      tests that must match numerically (needs onebit-run)
  unsupported.txt  tests not expected to pass, with the reason
`--update` rewrites them from the current results.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

try:
    import ml_dtypes  # bfloat16 for numpy; np.save writes it as '<V2'
except ImportError:
    ml_dtypes = None

OPS = """Add Sub Mul Div Pow Sqrt Reciprocal Neg Exp Log Abs Tanh Erf Sigmoid Relu
Gelu Softmax LogSoftmax MatMul Gemm Einsum Gather Reshape Transpose Concat Slice
Split Squeeze Unsqueeze Expand Shape Size ConstantOfShape Constant Range Cast
CastLike Where Equal Less Greater Not And Or Trilu ReduceMean ReduceSum
ReduceMax Max Min Clip LayerNormalization Identity CumSum IsNaN""".split()

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = "/usr/share/libonnx-testdata/data/node"


def read_list(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return {}
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            test, _, reason = line.partition(":")
            out[test.strip()] = reason.strip()
    return out


def write_list(name, header, items):
    with open(os.path.join(HERE, name), "w") as f:
        f.write("# " + header + "\n")
        for test in sorted(items):
            reason = items[test]
            f.write(test + (": " + reason if reason else "") + "\n")


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def declared(model):
    """ONNX element types of the graph's inputs and outputs, by name."""
    return {v.name: v.type.tensor_type.elem_type
            for v in list(model.graph.input) + list(model.graph.output)}


def labelled(arr, elem_type):
    """The array with the element type the model declares. Arrays keep their
    dtype (onebit-run takes unsigned and bf16 .npy files as they are), except
    that this ONNX's test data stores BFLOAT16 tensors as their UINT16 bits:
    those get ml_dtypes' bfloat16 label, the same bits."""
    if elem_type == onnx.TensorProto.BFLOAT16 and arr.dtype == np.uint16:
        if ml_dtypes is None:
            raise NeedsMlDtypes()
        return arr.view(ml_dtypes.bfloat16)
    return arr


class NeedsMlDtypes(Exception):
    pass


def is_bf16(dtype):
    return ml_dtypes is not None and dtype == ml_dtypes.bfloat16


def first_error(text):
    for line in text.splitlines():
        if "error:" in line:
            msg = line.split("error:", 1)[1].strip()
            # Drop the file name; keep "node '...' (Op, opset N): why".
            return msg.split(".onnx: ", 1)[-1]
    return text.strip().splitlines()[-1] if text.strip() else "failed"


# Operands that decide result shapes or ranks. onebit's IR has static ranks
# and folds such operands at import, so (as onnx-mlir's backend runner does
# for its "constant input" tests) graph inputs feeding them are frozen into
# initializers with the test's values.
SHAPE_OPERANDS = {"Reshape": {1}, "Slice": {1, 2, 3, 4}, "Unsqueeze": {1},
                  "Squeeze": {1}, "Expand": {1}, "ConstantOfShape": {0},
                  "Split": {1}, "Trilu": {1}, "CumSum": {1}, "Range": {0, 1, 2},
                  "ReduceSum": {1}, "ReduceMean": {1}, "ReduceMax": {1}}


def freeze_shape_inputs(model, test_dir):
    """Returns (model, indices of graph inputs that were frozen)."""
    names = {}
    for n in model.graph.node:
        for i in SHAPE_OPERANDS.get(n.op_type, ()):
            if i < len(n.input) and n.input[i]:
                names[n.input[i]] = True
    inputs = [i.name for i in model.graph.input]
    frozen = [k for k, name in enumerate(inputs) if name in names]
    if not frozen:
        return model, []
    sd = os.path.join(test_dir, "test_data_set_0")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for k in frozen:
        arr = load_pb(os.path.join(sd, "input_%d.pb" % k))
        m.graph.initializer.append(numpy_helper.from_array(arr, inputs[k]))
    keep = [i for k, i in enumerate(m.graph.input) if k not in frozen]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    return m, frozen


def run_test(test_dir, translate, runner, work):
    """Returns (status, detail): status in import-fail, imported, pass, fail."""
    mlir = os.path.join(work, "model.mlir")
    model, frozen = freeze_shape_inputs(
        onnx.load(os.path.join(test_dir, "model.onnx")), test_dir)
    path = os.path.join(test_dir, "model.onnx")
    if frozen:
        path = os.path.join(work, "model.onnx")
        onnx.save(model, path)
    p = subprocess.run([translate, "--import-onnx", path, "-o", mlir],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return "import-fail", first_error(p.stderr)
    if not runner:
        return "imported", ""
    sets = sorted(d for d in os.listdir(test_dir)
                  if d.startswith("test_data_set_"))
    for s in sets:
        sd = os.path.join(test_dir, s)
        ins = sorted((f for f in os.listdir(sd) if f.startswith("input_")),
                     key=lambda f: int(f[6:-3]))
        ins = [f for f in ins if int(f[6:-3]) not in frozen]
        outs = sorted((f for f in os.listdir(sd) if f.startswith("output_")),
                      key=lambda f: int(f[7:-3]))
        cmd = [runner, mlir]
        types = declared(model)
        in_names = [v.name for v in model.graph.input]  # frozen ones gone
        out_names = [v.name for v in model.graph.output]
        for i, f in enumerate(ins):
            npy = os.path.join(work, "in%d.npy" % i)
            np.save(npy, labelled(load_pb(os.path.join(sd, f)),
                                  types.get(in_names[i], 0)))
            cmd += ["--input", npy]
        for i, _ in enumerate(outs):
            cmd += ["--output", os.path.join(work, "out%d.npy" % i)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            return "fail", "onebit-run: " + first_error(p.stderr)
        for i, f in enumerate(outs):
            want = labelled(load_pb(os.path.join(sd, f)),
                            types.get(out_names[i], 0))
            got = np.load(os.path.join(work, "out%d.npy" % i))
            if is_bf16(want.dtype):
                # .npy has no bfloat16: '<V2' by ml_dtypes' convention.
                if got.dtype.str not in ("<V2", "|V2"):
                    return "fail", "output %d dtype %s is not bfloat16" % (
                        i, got.dtype.str)
                got = got.view(ml_dtypes.bfloat16)
            elif got.dtype != want.dtype:
                return "fail", "output %d dtype %s != %s" % (i, got.dtype,
                                                             want.dtype)
            if got.shape != want.shape:
                return "fail", "output %d shape %s != %s" % (i, got.shape,
                                                             want.shape)
            if is_bf16(want.dtype):
                # This ONNX's expected FLOAT->BFLOAT16 casts truncate; Cast
                # rounds to nearest even since opset 19 (and onebit always):
                # one bf16 ulp, 2^-7 relative, apart.
                ok = np.allclose(got.astype(np.float32),
                                 want.astype(np.float32), rtol=2.0**-7,
                                 atol=0, equal_nan=True)
            elif want.dtype.kind in "fc":
                ok = np.allclose(got, want, rtol=1e-3, atol=1e-5,
                                 equal_nan=True)
            else:
                ok = np.array_equal(got, want)
            if not ok:
                return "fail", "output %d differs" % i
    return "pass", ""


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--translate", required=True, help="onebit-translate")
    ap.add_argument("--run", help="onebit-run (skipped when missing)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--filter", default="", help="substring of test names")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every test that does not pass, with why")
    ap.add_argument("--update", action="store_true",
                    help="rewrite the baselines from this run")
    a = ap.parse_args()

    if not os.path.isdir(a.data):
        print("no ONNX node tests at %s (install libonnx-testdata)" % a.data)
        return 0
    runner = a.run if a.run and os.path.exists(a.run) else None
    if not runner:
        print("onebit-run is not built: checking imports only")

    per_op = collections.defaultdict(lambda: [0, 0])
    results = {}
    for name in sorted(os.listdir(a.data)):
        if a.filter not in name:
            continue
        test_dir = os.path.join(a.data, name)
        try:
            model = onnx.load(os.path.join(test_dir, "model.onnx"))
        except Exception:
            continue
        ops = {n.op_type for n in model.graph.node}
        if not ops or not ops <= set(OPS):
            continue
        with tempfile.TemporaryDirectory() as work:
            try:
                status, detail = run_test(test_dir, a.translate, runner, work)
            except subprocess.TimeoutExpired:
                status, detail = "fail", "timeout"
            except NeedsMlDtypes:
                # Not run, so neither a pass nor a regression.
                print("%s: skipped: bfloat16 data needs ml_dtypes" % name)
                continue
        results[name] = (status, detail)
        good = status in ("pass", "imported")
        for op in ops:
            per_op[op][0] += good
            per_op[op][1] += 1

    what = "pass" if runner else "import"
    if a.verbose:
        for t in sorted(results):
            s, d = results[t]
            if s not in ("pass", "imported"):
                print("%s: %s: %s" % (t, s, d))
    for op in sorted(per_op):
        print("%-20s %3d / %3d" % (op, per_op[op][0], per_op[op][1]))
    good = sum(s in ("pass", "imported") for s, _ in results.values())
    print("overall: %d / %d node tests %s" % (good, len(results), what))

    imports_ok = {t for t, (s, _) in results.items() if s != "import-fail"}
    passing = {t for t, (s, _) in results.items() if s == "pass"}
    if a.update:
        write_list("imports.txt", "node tests that import", {
            t: "" for t in imports_ok})
        write_list("unsupported.txt", "node tests that do not pass: reason", {
            t: d for t, (s, d) in results.items()
            if s == "import-fail" or (runner and s != "pass")})
        if runner:
            write_list("passing.txt", "node tests that match numerically", {
                t: "" for t in passing})
        return 0

    regressions = []
    for t in read_list("imports.txt"):
        if t in results and t not in imports_ok:
            regressions.append("%s no longer imports: %s" % (t, results[t][1]))
    if runner:
        for t in read_list("passing.txt"):
            if t in results and t not in passing:
                regressions.append("%s no longer passes: %s" %
                                   (t, results[t][1]))
    for r in regressions:
        print("REGRESSION:", r)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
