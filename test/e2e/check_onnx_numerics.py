#!/usr/bin/env python3
"""Runs an imported ONNX model with upstream mlir-opt + mlir-runner and
compares its output with a reference (.npy), until onebit-run replaces this.

usage: check_onnx_numerics.py MODEL.mlir INPUT.npy REF.npy [--rtol 1e-4]

Appends an @entry that calls @main on INPUT (an integer tensor: token ids)
and prints the f32 result, lowers with stock passes, runs it and prints the
maximum error relative to max|REF|. Exits 1 when it exceeds --rtol.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np


def llvm_tool(name):
    found = shutil.which(name)
    if found:
        return found
    try:
        bindir = subprocess.check_output(["llvm-config-22", "--bindir"],
                                         text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        bindir = "/usr/lib/llvm-22/bin"
    return os.path.join(bindir, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("ref")
    ap.add_argument("--rtol", type=float, default=1e-4)
    a = ap.parse_args()
    ids, ref = np.load(a.input), np.load(a.ref)
    text = open(a.model).read()
    body, sep, resources = text.partition("{-#")
    body = body.rstrip()
    arg_type = re.search(r"func.func @main\(%arg0: (tensor<[^>]*>)",
                         body).group(1)
    res_type = re.search(r"-> \((tensor<[^>]*>)", body).group(1)
    shape = "x".join(map(str, ids.shape))
    values = ", ".join(str(int(v)) for v in ids.reshape(-1))
    dims = ", ".join(str(d) for d in ids.shape)
    entry = f"""
  func.func private @printMemrefF32(tensor<*xf32>)
  func.func @entry() {{
    %flat = arith.constant dense<[{values}]> : tensor<{ids.size}xi64>
    %shape = arith.constant dense<[{dims}]> : tensor<{ids.ndim}xindex>
    %ids = tensor.reshape %flat(%shape) : (tensor<{ids.size}xi64>, tensor<{ids.ndim}xindex>) -> tensor<{shape}xi64>
    %in = tensor.cast %ids : tensor<{shape}xi64> to {arg_type}
    %out = call @main(%in) : ({arg_type}) -> {res_type}
    %u = tensor.cast %out : {res_type} to tensor<*xf32>
    call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
    return
  }}
}}
"""
    with tempfile.TemporaryDirectory() as work:
        prog = os.path.join(work, "prog.mlir")
        llvm = os.path.join(work, "prog.llvm.mlir")
        with open(prog, "w") as f:
            f.write(body[:-1] + entry + sep + resources)
        subprocess.check_call([
            llvm_tool("mlir-opt"), prog, "--canonicalize",
            "--one-shot-bufferize=bufferize-function-boundaries",
            "--convert-linalg-to-loops", "--expand-strided-metadata",
            "--lower-affine", "--convert-scf-to-cf", "--convert-math-to-llvm",
            "--convert-math-to-libm", "--convert-to-llvm",
            "--reconcile-unrealized-casts", "-o", llvm])
        libdir = os.path.join(os.path.dirname(llvm_tool("mlir-opt")), "..",
                              "lib")
        libs = ",".join(os.path.join(libdir, n) for n in
                        ["libmlir_runner_utils.so",
                         "libmlir_c_runner_utils.so"])
        out = subprocess.check_output(
            [llvm_tool("mlir-runner"), llvm, "-e", "entry",
             "-entry-point-result=void", "-shared-libs=" + libs], text=True)
    data = out.split("\n", 1)[1]
    got = np.array([float(x) for x in re.findall(
        r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)", data)], np.float32)
    if got.size != ref.size:
        print("error: got %d values, expected %d" % (got.size, ref.size))
        return 1
    err = float(np.abs(got - ref.reshape(-1)).max() / np.abs(ref).max())
    print("max relative error: %.3g (%d values)" % (err, got.size))
    return 0 if err <= a.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
