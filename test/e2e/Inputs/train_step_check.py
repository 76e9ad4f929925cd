#!/usr/bin/env python3
"""One compiler-generated KD train step against an independent PyTorch step.

Exports the tiny LLaMA-style decoder of test/e2e/models.py with torch.onnx,
imports it, runs `--onebit-quantize=keep-teacher=true --onebit-build-train-step`
and executes `@main_train_init` and `@main_train_step` with onebit-run (the CPU
pipeline). PyTorch then builds the same student by hand from the torch model
(every quantized nn.Linear becomes LN((x*g) @ sign(W)^T * h) with the
straight-through sign, initialised from the parameters @main_train_init
returned, whose latent weights must be sign(W_torch) * 0.01), computes
L_KD = L_CE + alpha * L_MSE on the teacher's logits and hidden states,
back-propagates with autograd and takes one torch.optim.AdamW step.
Compared: the three losses, every updated parameter and both Adam moments.

With --trainable, the embedding, the norm weights and the head train too
(`trainable=embeddings,norms,head`): they are checked against the torch
model's own parameters (the head's ONNX weight is lm_head.weight transposed).

usage: train_step_check.py TRANSLATE OPT RUN --work DIR [--trainable]
prints one line per compared group and `train-step-check: N failures`.
"""
import argparse
import os
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import models  # noqa: E402

LR, WD, ALPHA, STEP = 1e-3, 0.01, 1.0, 1.0
TOL = 1e-4


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w < 0, -torch.ones_like(w), torch.ones_like(w))

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (1.001 - torch.tanh(w) ** 2)


class OneBitLinear(nn.Module):
    def __init__(self, latent, g, h, eps=1e-5):
        super().__init__()
        self.latent = nn.Parameter(torch.tensor(latent))
        self.g = nn.Parameter(torch.tensor(g))
        self.h = nn.Parameter(torch.tensor(h))
        self.eps = eps

    def forward(self, x):
        y = (x * self.g) @ SignSTE.apply(self.latent).t() * self.h
        return F.layer_norm(y, (y.shape[-1],), eps=self.eps)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd[:4])} ...\n{r.stderr}")
    return r.stdout


def result_names(text, func):
    m = re.search(r"func\.func @" + func + r"\((.*?)\) -> \((.*?)\) (\{|attributes)",
                  text)
    if not m:
        sys.exit(f"no @{func} in the train step module")
    return re.findall(r'onebit\.name = "([^"]*)"', m.group(2))


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("translate")
    ap.add_argument("opt")
    ap.add_argument("run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--trainable", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    w = lambda n: os.path.join(a.work, n)

    teacher, ids = models.export("llama", w("llama.onnx"), opset=17, batch=2,
                                 seq=5, seed=0)
    np.save(w("ids.npy"), ids.numpy())
    run([a.translate, "--import-onnx", w("llama.onnx"), "--mlir-print-debuginfo",
         "-o", w("llama.mlir")])
    run([a.opt, w("llama.mlir"), "--mlir-print-debuginfo",
         "--onebit-quantize=keep-teacher=true",
         f"--onebit-build-train-step=alpha={ALPHA} weight-decay={WD}" +
         (" trainable=embeddings,norms,head" if a.trainable else ""),
         "-o", w("step.mlir")])
    text = open(w("step.mlir")).read()
    taps = re.search(r"onebit\.hidden_states = \[([^\]]*)\]", text).group(1)
    print("hidden states:", taps)

    names = result_names(text, "main_train_init")
    outs = []
    for i in range(len(names)):
        outs += ["--output", w(f"init{i}.npy")]
    run([a.run, w("step.mlir"), "--entry", "main_train_init"] + outs)
    init = {n: np.load(w(f"init{i}.npy")) for i, n in enumerate(names)}

    # PyTorch student from the torch teacher and the initial parameters.
    student = models.build("llama", 0)
    failures = 0
    binary = [n for n in names if n.rsplit(".", 1)[1] in ("latent", "g", "h")]
    fp_names = [n for n in names if n not in binary]
    layers = sorted({n.rsplit(".", 1)[0] for n in binary})
    latent_err = 0.0
    for layer in layers:
        parent_name, attr = layer.rsplit(".", 1)
        parent = student.get_submodule(parent_name)
        lin = getattr(parent, attr)
        want = np.where(lin.weight.detach().numpy() < 0, np.float32(-0.01),
                        np.float32(0.01))
        latent_err = max(latent_err, rel(init[layer + ".latent"], want))
        setattr(parent, attr, OneBitLinear(init[layer + ".latent"],
                                           init[layer + ".g"], init[layer + ".h"]))
    ok = latent_err == 0.0
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'} init: {len(layers)} layers, latent == "
          f"sign(W_torch) * 0.01 (max rel err {latent_err:.2e})")

    # Full-precision parameters: the torch student's own tensors (the head's
    # ONNX weight is lm_head.weight transposed).
    def fp_torch(n):
        if n == "lm_head.weight":
            return student.lm_head.weight, True
        return student.get_parameter(n), False
    want_fp = {"model.embed_tokens.weight", "model.norm.weight",
               "lm_head.weight"} | {
        f"model.layers.{i}.{k}.weight" for i in range(2)
        for k in ("input_layernorm", "post_attention_layernorm")}
    if a.trainable or fp_names:
        ok = set(fp_names) == want_fp
        for n in fp_names:
            t, tr = fp_torch(n)
            v = t.detach().numpy()
            ok &= np.array_equal(init[n], v.T if tr else v)
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'} init: full-precision parameters "
              f"{sorted(fp_names)} equal the torch model's")
    for m in student.parameters():
        m.requires_grad_(False)
    params = {}
    for layer in layers:
        mod = student.get_submodule(layer)
        for k in ("latent", "g", "h"):
            params[f"{layer}.{k}"] = getattr(mod, k)
            params[f"{layer}.{k}"].requires_grad_(True)
    for n in fp_names:
        params[n] = fp_torch(n)[0]
        params[n].requires_grad_(True)

    taps_t, taps_s = [], []
    for m, store in ((teacher, taps_t), (student, taps_s)):
        for layer in m.model.layers:
            layer.register_forward_hook(lambda mod, i, o, s=store: s.append(o))
    with torch.no_grad():
        t_logits = teacher(ids)
    s_logits = student(ids)
    ce = -(F.softmax(t_logits, -1) * F.log_softmax(s_logits, -1)).sum(-1).mean()
    mse = sum(((F.normalize(qt, dim=-1) - F.normalize(qs, dim=-1)) ** 2)
              .sum(-1).mean() for qt, qs in zip(taps_t, taps_s))
    loss = ce + ALPHA * mse
    opt = torch.optim.AdamW([params[n] for n in names], lr=LR, betas=(0.9, 0.98),
                            eps=1e-8, weight_decay=WD)
    opt.zero_grad()
    loss.backward()
    opt.step()

    # The compiled step.
    ins = []
    for i, n in enumerate(names):
        ins += ["--input", w(f"init{i}.npy")]
    zeros = [np.zeros_like(init[n]) for n in names]
    for k in ("m", "v"):
        for i, z in enumerate(zeros):
            np.save(w(f"{k}{i}.npy"), z)
            ins += ["--input", w(f"{k}{i}.npy")]
    np.save(w("lr.npy"), np.array(LR, np.float32))
    np.save(w("step.npy"), np.array(STEP, np.float32))
    ins += ["--input", w("ids.npy"), "--input", w("lr.npy"), "--input",
            w("step.npy")]
    outs = []
    for k in ("p", "m", "v"):
        for i in range(len(names)):
            outs += ["--output", w(f"new_{k}{i}.npy")]
    for n in ("loss", "ce", "mse"):
        outs += ["--output", w(f"{n}.npy")]
    run([a.run, w("step.mlir"), "--entry", "main_train_step"] + ins + outs)

    def onnx_layout(n, t):
        v = t.detach().numpy()
        return v.T if n == "lm_head.weight" else v

    def kind_of(n):
        return "fp" if n in fp_names else n.rsplit(".", 1)[1]

    def check(label, got, want):
        nonlocal failures
        err = max(rel(g, t) for g, t in zip(got, want))
        good = err <= TOL
        failures += not good
        print(f"{'ok' if good else 'FAIL'} {label}: max rel err {err:.2e}")

    for n, t in (("loss", loss), ("ce", ce), ("mse", mse)):
        print(f"  {n}: onebit {float(np.load(w(n + '.npy'))):.7f} "
              f"torch {float(t):.7f}")
        check(n, [np.load(w(n + ".npy"))], [t.detach().numpy()])
    state = opt.state
    for k, label in (("m", "adam m"), ("v", "adam v")):
        for kind in ("latent", "g", "h") + (("fp",) if fp_names else ()):
            got_k, want_k = [], []
            for i, n in enumerate(names):
                if kind_of(n) == kind:
                    got_k.append(np.load(w(f"new_{k}{i}.npy")))
                    want_k.append(onnx_layout(n, state[params[n]][
                        "exp_avg" if k == "m" else "exp_avg_sq"]))
            check(f"{label} ({kind}, {len(got_k)} tensors)", got_k, want_k)
    # Updated parameters. At step 1 Adam moves every element by about
    # lr * sign(grad): an element whose gradient is below float32 noise
    # (|grad| < 1e-4 * max|grad| of its tensor, where the two gradients'
    # 1e-5 relative difference can flip the sign) moves by +-lr either way.
    # Those are compared only against the bound |p' - p| <= lr*(1+wd|p|)+tiny;
    # the rest against torch. Our update is also recomputed in numpy from our
    # own moments (the Adam arithmetic itself, every element).
    for kind in ("latent", "g", "h") + (("fp",) if fp_names else ()):
        got_k, want_k, skipped, total, arith, bound_ok = [], [], 0, 0, 0.0, True
        for i, n in enumerate(names):
            if kind_of(n) != kind:
                continue
            p0 = init[n].astype(np.float64)
            p1 = np.load(w(f"new_p{i}.npy"))
            m1 = np.load(w(f"new_m{i}.npy")).astype(np.float64)
            v1 = np.load(w(f"new_v{i}.npy")).astype(np.float64)
            mh, vh = m1 / (1 - 0.9 ** STEP), v1 / (1 - 0.98 ** STEP)
            mine = p0 - LR * (mh / (np.sqrt(vh) + 1e-8) + WD * p0)
            arith = max(arith, rel(p1, mine))
            t = onnx_layout(n, params[n])
            grad = onnx_layout(n, state[params[n]]["exp_avg"]) / 0.1
            resolved = np.abs(grad) >= 1e-4 * np.abs(grad).max()
            skipped += int((~resolved).sum())
            total += grad.size
            bound_ok &= bool(np.all(np.abs(p1 - p0)[~resolved] <=
                                    LR * (1 + WD * np.abs(p0[~resolved])) + 1e-7))
            got_k.append(np.where(resolved, p1, t))
            want_k.append(t)
        check(f"updated {kind} vs torch ({total - skipped}/{total} elements "
              f"with resolved gradients)", got_k, want_k)
        good = arith <= 1e-6 and bound_ok
        failures += not good
        print(f"{'ok' if good else 'FAIL'} updated {kind}: Adam arithmetic max "
              f"rel err {arith:.2e}; {skipped} unresolved elements within the "
              f"step bound: {bound_ok}")
    print(f"train-step-check: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
