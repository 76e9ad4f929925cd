#!/usr/bin/env python3
"""Whole-model one-token decode: FP32 vs 1-bit, both through onebit-run.

Builds a LLaMA-style decoder with realistic widths from the PyTorch modules
of test/e2e/models.py (fixed seed, random weights), exports one decode step
(batch 1, seq 1; no KV cache) with torch.onnx, imports it with
onebit-translate, quantizes it with onebit-opt --onebit-quantize and runs
both models with `onebit-run --bench N --threads T`. The FP32 model's
matmuls go through convert-matmul-to-runtime (OpenBLAS sgemv/sgemm), the
1-bit model's layers through the 1-bit kernels; both share everything else
(embedding gather, norms, attention, head), so the ratio is the end-to-end
gain of 1-bit weights in this compiler.

Prints tokens/s of each model at each thread count, the ratio, the compile
times, and (--naive-bench N > 0) the FP32 model with the old naive-loop
lowering of dense ops (ONEBIT_DENSE_MATMUL=loops), labelled as such.

usage: decode_bench.py [--build build] [--layers 4] [--dim 2048]
       [--ffn 5632] [--heads 32] [--vocab 32000] [--bench 10]
       [--threads 1,2] [--keep-head true|false|int8|both|all] [--naive-bench 2]
       [--kernel-mode exact|fast|int16|both|all] [--isa avx2|avx512] [--work DIR]
Needs torch, onnx and numpy (Debian's /usr/bin/python3 has them).
Target in the issue: 1-bit >= 8x FP32 tokens/s.
--isa avx2 runs the kernels CPUs without AVX-512 get on an AVX-512 host
(ONEBIT_ISA=avx2 for the 1-bit and int8 kernels, OPENBLAS_CORETYPE=Haswell
for OpenBLAS); the JIT-compiled code still targets the host.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))
import models  # noqa: E402


def run(cmd, env=None):
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env)
    return time.time() - t0


def bench(tool, model, ids, reps, threads, env=None, out=None,
          mode="exact"):
    cmd = [tool, model, "--input", ids, "--bench", str(reps),
           "--threads", str(threads), "--kernel-mode", mode]
    if out:
        cmd += ["--output", out]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True,
                          env=env).stdout
    compile_ms = float(re.search(r"compile_ms: ([0-9.]+)", text).group(1))
    median_ms = float(re.search(r"median_ms: ([0-9.]+)", text).group(1))
    return compile_ms, median_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--bench", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--keep-head", default="all",
                    choices=["true", "false", "int8", "both", "all"],
                    help="quantize the logits layer too (false), keep it "
                         "FP32 like the OneBit paper (true), keep it and make "
                         "it and the embedding weight-only int8 "
                         "(--onebit-int8-weights: int8), true and false "
                         "(both), or all three (all)")
    ap.add_argument("--init", default="svd",
                    help="SVID init of --onebit-quantize (speed does not "
                         "depend on it)")
    ap.add_argument("--naive-bench", type=int, default=2,
                    help="repetitions of the FP32 model with naive loops "
                         "(0: skip)")
    ap.add_argument("--kernel-mode", default="all",
                    choices=["exact", "fast", "int16", "both", "all"],
                    help="1-bit kernels of onebit-run: exact (FP32 tables), "
                         "fast (int8 tables, ~1e-2 off), int16 (the default: "
                         "16-bit tables, ~3e-5 off), both (exact and fast) "
                         "or all three")
    ap.add_argument("--isa", choices=["avx2", "avx512"],
                    help="cap the runtime's kernels at this ISA "
                         "(ONEBIT_ISA; avx2 also sets OPENBLAS_CORETYPE="
                         "Haswell)")
    ap.add_argument("--work", help="keep the files here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the ONNX / MLIR files already in --work")
    ap.add_argument("--prepare-only", action="store_true",
                    help="stop after export, import and quantization")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    bindir = os.path.join(a.build, "bin")
    translate = os.path.join(bindir, "onebit-translate")
    opt = os.path.join(bindir, "onebit-opt")
    runner = os.path.join(bindir, "onebit-run")
    work = a.work or tempfile.mkdtemp(prefix="decode-bench-")
    os.makedirs(work, exist_ok=True)

    torch.manual_seed(a.seed)
    model = models.LlamaForCausalLM(vocab=a.vocab, dim=a.dim, heads=a.heads,
                                    hidden=a.ffn, layers=a.layers).eval()
    params = sum(p.numel() for p in model.parameters())
    lin = sum(m.weight.numel() for m in model.modules()
              if isinstance(m, torch.nn.Linear))
    ids = torch.randint(0, a.vocab, (1, 1),
                        generator=torch.Generator().manual_seed(a.seed + 1))
    ids_path = os.path.join(work, "ids.npy")
    np.save(ids_path, ids.numpy())
    onnx_path = os.path.join(work, "decode.onnx")
    ref_path = os.path.join(work, "torch.logits.npy")
    reuse = a.reuse and os.path.exists(ref_path)
    t0 = time.time()
    if reuse:
        ref = np.load(ref_path)
    else:
        with torch.no_grad():
            ref = model(ids).numpy()
            torch.onnx.export(model, (ids,), onnx_path,
                              input_names=["input_ids"],
                              output_names=["logits"], opset_version=17,
                              do_constant_folding=True)
        np.save(ref_path, ref)
    export_s = time.time() - t0
    del model

    fp = os.path.join(work, "fp32.mlirbc")
    import_s = 0.0
    if not (reuse and os.path.exists(fp)):
        import_s = run([translate, "--import-onnx", onnx_path,
                        "--emit-bytecode", "-o", fp])
    heads = {"both": ["true", "false"],
             "all": ["true", "false", "int8"]}.get(a.keep_head, [a.keep_head])
    quant = {}
    for kh in heads:
        q = os.path.join(work, f"onebit-keephead-{kh}.mlirbc")
        if reuse and os.path.exists(q):
            quant[kh] = (q, 0.0)
            continue
        cmd = [opt, fp, f"--onebit-quantize=init={a.init} "
               f"keep-head={'false' if kh == 'false' else 'true'}"]
        if kh == "int8":
            cmd.append("--onebit-int8-weights")
        quant[kh] = (q, run(cmd + ["--emit-bytecode", "-o", q]))

    print(f"model: LLaMA-style, {a.layers} layers, dim {a.dim}, ffn {a.ffn}, "
          f"{a.heads} heads, vocab {a.vocab}: {params / 1e6:.1f}M parameters "
          f"({lin / 1e6:.1f}M in linear layers incl. the head), "
          f"{params * 4 / 2**30:.2f} GiB FP32")
    print(f"decode step: batch 1, seq 1 (no KV cache), seed {a.seed}")
    print(f"export {export_s:.1f} s, import {import_s:.1f} s, " +
          ", ".join(f"quantize (keep-head={kh}) {s:.1f} s"
                    for kh, (_, s) in quant.items()))
    print(f"load average: {os.getloadavg()[0]:.2f}")
    if a.prepare_only:
        return

    env = dict(os.environ)
    if a.isa:
        env["ONEBIT_ISA"] = a.isa
        if a.isa == "avx2":
            env.setdefault("OPENBLAS_CORETYPE", "Haswell")
        print(f"kernels capped at {a.isa} (ONEBIT_ISA={a.isa}"
              + (f", OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}"
                 if "OPENBLAS_CORETYPE" in env else "") + ")")
    # Numerics sanity: the FP32 model against PyTorch.
    out = os.path.join(work, "fp32.logits.npy")
    rows = []
    modes = {"both": ["exact", "fast"], "all": ["exact", "int16", "fast"]}.get(
        a.kernel_mode, [a.kernel_mode])
    for t in threads:
        c, ms = bench(runner, fp, ids_path, a.bench, t, env=env,
                      out=out if t == threads[0] else None)
        if t == threads[0]:
            y = np.load(out)
            err = np.abs(y - ref).max() / np.abs(ref).max()
            print(f"FP32 logits vs PyTorch: max relative error {err:.2e}")
        rows.append(("FP32 (BLAS dense path)", "-", t, c, ms))
        for kh, (q, _) in quant.items():
            for mode in modes:
                qout = os.path.join(work, f"q-{kh}-{mode}.logits.npy")
                c1, ms1 = bench(runner, q, ids_path, a.bench, t, mode=mode,
                                env=env,
                                out=qout if t == threads[0] else None)
                rows.append((f"1-bit {mode}", kh, t, c1, ms1))
    # How far the fast and int16 kernels move the logits from the exact ones.
    for other in ("fast", "int16"):
        if other not in modes or "exact" not in modes:
            continue
        for kh in quant:
            ye = np.load(os.path.join(work, f"q-{kh}-exact.logits.npy"))
            yf = np.load(os.path.join(work, f"q-{kh}-{other}.logits.npy"))
            err = np.abs(yf - ye).max() / np.abs(ye).max()
            agree = np.mean(ye.argmax(-1) == yf.argmax(-1))
            print(f"1-bit (head {kh}) {other} vs exact logits: max relative "
                  f"difference {err:.2e}, same argmax {agree:.0%}")
    naive = {}
    if a.naive_bench > 0:
        naive_env = dict(env, ONEBIT_DENSE_MATMUL="loops")
        for t in threads:
            c, ms = bench(runner, fp, ids_path, a.naive_bench, t,
                          env=naive_env)
            naive[t] = (c, ms)
            rows.append(("FP32 (old naive loops)", "-", t, c, ms))

    print()
    print("| model | head FP32 (int8: head and embedding int8) | threads | "
          "compile s | ms/token | tokens/s |")
    print("|---|---|---|---|---|---|")
    for name, kh, t, c, ms in rows:
        print(f"| {name} | {kh} | {t} | {c / 1000:.1f} | {ms:.2f} | "
              f"{1000 / ms:.2f} |")
    print()
    print("| threads | head FP32 | kernels | 1-bit / FP32 (BLAS) | "
          "1-bit / FP32 (naive loops) |")
    print("|---|---|---|---|---|")
    best = {}
    for t in threads:
        fp_ms = next(ms for n, _, tt, _, ms in rows
                     if tt == t and n.startswith("FP32 (BLAS"))
        for kh in quant:
            for mode in modes:
                q_ms = next(ms for n, k, tt, _, ms in rows
                            if tt == t and n == f"1-bit {mode}" and k == kh)
                r = fp_ms / q_ms
                if r > best.get((mode, t), (0.0, ""))[0]:
                    best[(mode, t)] = (r, kh)
                nv = f"{naive[t][1] / q_ms:.1f}x" if t in naive else "-"
                print(f"| {t} | {kh} | {mode} | **{r:.1f}x** | {nv} |")
    print()
    for mode in modes:
        parts = []
        for t in threads:
            r, kh = best[(mode, t)]
            parts.append(f"{t} thread{'s' if t > 1 else ''}: {r:.1f}x "
                         f"(head {kh}) {'met' if r >= 8 else 'MISSED'}")
        print(f"target >= 8x against the BLAS baseline ({mode} kernels), "
              f"best model: " + "; ".join(parts))
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"files in {work}")


if __name__ == "__main__":
    main()
