#!/usr/bin/env python3
"""Builds the bundled example teacher: a small byte-level LLaMA-architecture
model trained on public-domain English prose, exported to ONNX.

Text: the King James Version of the Bible (public domain), from Debian's
`bible-kjv` / `bible-kjv-text` packages (`bible -f Gen1:1-Rev22:21`), verse
references stripped. The last 32 KiB of the text (cut at a line) are held
out for evaluation (Revelation); the rest is the teacher's training text.

Deterministic for a given --seed, torch version and thread count. Writes to
OUTDIR: train.txt, heldout.txt, SOURCE.txt, teacher.onnx (static
[batch, seq] int64 token ids -> logits [batch, seq, 256]) and teacher.json
(hyper-parameters and the PyTorch held-out perplexity).

usage: make_example_teacher.py OUTDIR [--steps N] [--threads T]
       [--dim D] [--heads H] [--hidden F] [--layers L]   (model shape)
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "test", "e2e"))
import models  # noqa: E402  (the LLaMA-style modules used by the tests)

CONFIG = dict(vocab=256, dim=128, heads=4, hidden=352, layers=4)
SHAPE = ("dim", "heads", "hidden", "layers")  # settable on the command line


def kjv_text():
    try:
        out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("make_example_teacher: the `bible` program (Debian packages "
                 f"bible-kjv, bible-kjv-text) is needed: {e}")
    lines = [re.sub(r"^\S+?\d+:\d+\s+", "", l) for l in out.splitlines()]
    text = "\n".join(l for l in lines if l.strip()) + "\n"
    return text.encode("ascii", "ignore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16, help="training batch")
    ap.add_argument("--seq", type=int, default=64, help="context length")
    ap.add_argument("--export-batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    for k in SHAPE:
        ap.add_argument("--" + k, type=int, default=CONFIG[k],
                        help=f"model {k} (default {CONFIG[k]})")
    a = ap.parse_args()
    config = dict(CONFIG, **{k: getattr(a, k) for k in SHAPE})
    os.makedirs(a.outdir, exist_ok=True)
    torch.set_num_threads(a.threads)

    data = kjv_text()
    cut = data.rfind(b"\n", 0, len(data) - 32768) + 1
    train, held = data[:cut], data[cut:]
    with open(os.path.join(a.outdir, "train.txt"), "wb") as f:
        f.write(train)
    with open(os.path.join(a.outdir, "heldout.txt"), "wb") as f:
        f.write(held)
    with open(os.path.join(a.outdir, "SOURCE.txt"), "w") as f:
        f.write("King James Version of the Bible (public domain), from "
                "Debian's bible-kjv-text package via `bible -f "
                "Gen1:1-Rev22:21`, verse references removed. train.txt: "
                f"first {len(train)} bytes; heldout.txt: last {len(held)} "
                "bytes.\n")

    torch.manual_seed(a.seed)
    model = models.LlamaForCausalLM(**config)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98),
                            weight_decay=0.01)
    tokens = torch.tensor(np.frombuffer(train, dtype=np.uint8).astype(np.int64))
    gen = torch.Generator().manual_seed(a.seed + 1)
    t0 = time.time()
    model.train()
    for step in range(1, a.steps + 1):
        lr = a.lr * min(1.0, step / 50) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(tokens) - a.seq - 1, (a.batch,),
                               generator=gen)
        batch = torch.stack([tokens[s:s + a.seq + 1] for s in starts])
        logits = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256),
                                                 batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == a.steps:
            print(f"teacher step {step}/{a.steps} loss {loss.item():.4f} "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr)
    model.eval()

    # Held-out perplexity, GPTQ protocol (what onebit-eval computes).
    held_t = np.frombuffer(held, dtype=np.uint8).astype(np.int64)
    n = len(held_t) // a.seq
    windows = torch.tensor(held_t[: n * a.seq].reshape(n, a.seq))
    nll, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, n, 64):
            w = windows[i:i + 64]
            lp = torch.log_softmax(model(w), -1)[:, :-1]
            nll -= lp.gather(-1, w[:, 1:, None]).sum().item()
            count += w[:, 1:].numel()
    ppl = math.exp(nll / count)
    print(f"teacher: {params} parameters, held-out perplexity {ppl:.4f}",
          file=sys.stderr)

    ids = torch.zeros((a.export_batch, a.seq), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(model, (ids,), os.path.join(a.outdir, "teacher.onnx"),
                          input_names=["input_ids"], output_names=["logits"],
                          opset_version=17, do_constant_folding=True)
    with open(os.path.join(a.outdir, "teacher.json"), "w") as f:
        json.dump(dict(config, parameters=params, steps=a.steps,
                       batch=a.batch, seq=a.seq, lr=a.lr, seed=a.seed,
                       export_batch=a.export_batch,
                       torch_heldout_perplexity=ppl,
                       torch_version=torch.__version__), f, indent=1)


if __name__ == "__main__":
    main()
