#!/usr/bin/env python3
"""KD train steps per second: the compiler-generated step (onebit-train) vs
an independent PyTorch implementation of the same step on the same model,
batch, sequence length and thread count, measured in the same run.

The PyTorch step is the reference of test/e2e/train-step-torch.test: the
student's quantized nn.Linear layers become LN((x*g) @ sign(W)^T * h) with a
straight-through sign, L_KD = L_CE + L_MSE on the teacher's logits and
per-layer hidden states, autograd, torch.optim.AdamW.

usage: kd_step_bench.py TEACHER_DIR_OR_ONNX [--build build] [--steps 20]
       [--threads 1] [--kind example|tiny] [--compare-dense] [--rounds 3]
  Each round times both sides back to back (a fresh onebit-train run, then
  a fresh PyTorch student), so a slow spell of a shared machine hits both;
  the summary gives the median of the rounds' ratios.
  With --kind tiny a fresh tiny LLaMA (test/e2e/models.py) is exported.
  With a folder made by scripts/make_example_teacher.py the example teacher
  (0.87M parameters, batch 8 x 64 tokens) is used.
Target in the issue: onebit >= 1.5x PyTorch.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e", "Inputs"))
import models  # noqa: E402
from train_step_check import OneBitLinear  # noqa: E402


def torch_steps_per_s(teacher, batch, seq, vocab, steps, threads):
    torch.set_num_threads(threads)
    student = models.LlamaForCausalLM(**teacher.cfg)
    student.load_state_dict(teacher.state_dict())
    params = []
    for layer in student.model.layers:
        for parent, names in ((layer.self_attn, ("q_proj", "k_proj", "v_proj",
                                                 "o_proj")),
                              (layer.mlp, ("gate_proj", "up_proj",
                                           "down_proj"))):
            for n in names:
                w = getattr(parent, n).weight.detach().numpy()
                a = np.abs(w)
                u, s, vt = np.linalg.svd(a, full_matrices=False)
                h, g = np.abs(u[:, 0]) * np.sqrt(s[0]), np.abs(vt[0]) * np.sqrt(s[0])
                mod = OneBitLinear(np.where(w < 0, -0.01, 0.01).astype(np.float32),
                                   g.astype(np.float32), h.astype(np.float32))
                setattr(parent, n, mod)
                params += [mod.latent, mod.g, mod.h]
    for p in student.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.98), eps=1e-8,
                            weight_decay=0.0)
    taps_t, taps_s = [], []
    for m, store in ((teacher, taps_t), (student, taps_s)):
        for layer in m.model.layers:
            layer.register_forward_hook(lambda mod, i, o, s=store: s.append(o))
    gen = torch.Generator().manual_seed(0)

    def step():
        ids = torch.randint(0, vocab, (batch, seq), generator=gen)
        taps_t.clear()
        taps_s.clear()
        with torch.no_grad():
            t = teacher(ids)
        s = student(ids)
        ce = -(F.softmax(t, -1) * F.log_softmax(s, -1)).sum(-1).mean()
        mse = sum(((F.normalize(a, dim=-1) - F.normalize(b, dim=-1)) ** 2)
                  .sum(-1).mean() for a, b in zip(taps_t, taps_s))
        opt.zero_grad()
        (ce + mse).backward()
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1.0 / float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("teacher", nargs="?", default="")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kind", choices=["example", "tiny"], default="tiny")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of onebit then PyTorch; the summary is the "
                    "median of the rounds' ratios")
    ap.add_argument("--compare-dense", action="store_true",
                    help="also time onebit-train with the products with "
                    "sign(W) on the dense FP32 GEMM (ONEBIT_SIGN_MATMUL=dense)")
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    if a.kind == "tiny":
        cfg = dict(vocab=64, dim=32, heads=4, hidden=64, layers=2)
        batch, seq = 2, 8
        onnx_path = os.path.join(work, "teacher.onnx")
        teacher, _ = models.export("llama", onnx_path, batch=batch, seq=seq)
    else:
        meta = json.load(open(os.path.join(a.teacher, "teacher.json")))
        cfg = {k: meta[k] for k in ("vocab", "dim", "heads", "hidden", "layers")}
        batch, seq = meta["export_batch"], meta["seq"]
        onnx_path = os.path.join(a.teacher, "teacher.onnx")
        # Same architecture and shapes; the weights' values do not change
        # the cost of a step.
        torch.manual_seed(0)
        teacher = models.LlamaForCausalLM(**cfg).eval()
    teacher.cfg = cfg
    for p in teacher.parameters():
        p.requires_grad_(False)

    def onebit_steps_per_s(sign_matmul):
        out = os.path.join(work, "run-" + sign_matmul)
        env = dict(os.environ, ONEBIT_SIGN_MATMUL=sign_matmul)
        r = subprocess.run([os.path.join(a.build, "bin", "onebit-train"),
                            "--teacher", onnx_path, "--data", "gen:%d" % batch,
                            "--steps", str(a.steps + 1), "--lr", "1e-4",
                            "--threads", str(a.threads), "--out", out,
                            "--checkpoint-every", "0"],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            sys.exit("onebit-train failed:\n" + r.stderr)
        log = [json.loads(l) for l in open(os.path.join(out, "train.jsonl"))]
        return 1.0 / float(np.median([x["seconds"] for x in log[1:]]))

    if a.rounds < 1 or a.steps < 1:
        sys.exit("kd_step_bench.py: --rounds and --steps must be >= 1")
    ours, theirs, ratios, dense_ratios = [], [], [], []
    for r in range(1, a.rounds + 1):
        ours.append(onebit_steps_per_s("onebit"))
        extra = ""
        if a.compare_dense:
            dense = onebit_steps_per_s("dense")
            dense_ratios.append(ours[-1] / dense)
            extra = (f", sign(W) products on the dense FP32 GEMM {dense:.2f} "
                     f"steps/s (1-bit kernels {dense_ratios[-1]:.2f}x)")
        theirs.append(torch_steps_per_s(teacher, batch, seq, cfg["vocab"],
                                        a.steps, a.threads))
        ratios.append(ours[-1] / theirs[-1])
        print(f"round {r}/{a.rounds}: onebit {ours[-1]:.2f} steps/s, torch "
              f"{theirs[-1]:.2f} steps/s, ratio {ratios[-1]:.2f}x{extra}",
              flush=True)
    params = sum(p.numel() for p in teacher.parameters())
    if a.compare_dense:
        print("kd-step products with sign(W): 1-bit kernels vs dense FP32 "
              f"GEMM, median {np.median(dense_ratios):.2f}x (rounds: "
              + ", ".join(f"{x:.2f}x" for x in dense_ratios) + ")")
    print(f"kd-step model={a.kind} params={params} batch={batch} seq={seq} "
          f"threads={a.threads} onebit_steps_per_s={np.median(ours):.2f} "
          f"torch_steps_per_s={np.median(theirs):.2f} "
          f"ratio={np.median(ratios):.2f}x (median of {a.rounds} rounds: "
          + ", ".join(f"{x:.2f}x" for x in ratios) + "; "
          f"target 1.5x; torch {torch.__version__}; "
          f"openblas core {openblas_core()} on both sides)")


def openblas_core():
    """The OpenBLAS kernels both sides use: onebit-train's runtime and this
    PyTorch (Debian's, on the system OpenBLAS) load the same library in the
    same environment (OPENBLAS_CORETYPE, if set, decides for both)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


if __name__ == "__main__":
    main()
